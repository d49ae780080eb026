"""
Settings shared by every layer, with their defaults and the one parser of their values.

The CLI's global options and ``Settings.from_env()`` parse with the same functions (each
raising ``InvalidSetting``, a usage error), so a value means the same wherever it is given.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from . import _log
from ._durations import format_duration, parse_duration
from ._errors import UsageError

log = _log.get_logger(__name__)

DEFAULT_AUTH_URL = "https://auth.spatiafi.com"
DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 60.0
DEFAULT_MIN_TTL = 60.0
APP_NAME = "spatiafi"
# A request longer than an hour, or a command longer than a day, is a typo: and an
# unbounded number would overflow the clocks computed from it.
MAX_TIMEOUT = 3600.0
MAX_DEADLINE = 86400.0
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InvalidSetting(UsageError):
    """
    A setting's value is malformed; ``setting`` names the option or variable it came from.
    """

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


def _xdg_dir(variable: str, fallback: str) -> Path:
    """
    Return platformdirs' answer on Linux (the XDG base directory rule) without importing
    it: its Unix module imports tempfile, shutil, bz2 and lzma, some 10 ms of the
    cached-token path (make proof). tests/unit/test_settings.py checks both agree.
    """
    base = os.environ.get(variable, "").strip()
    if not os.path.isabs(base):  # unset, blank or relative: the spec says ignore it
        base = os.path.expanduser(fallback)
    return Path(base) / APP_NAME


def default_config_dir() -> Path:
    """
    Return py-spatiafi's credential directory, so that both tools share one file.
    """
    if sys.platform == "linux":
        return _xdg_dir("XDG_CONFIG_HOME", "~/.config")
    else:
        import platformdirs

        return Path(platformdirs.user_config_dir(APP_NAME))


def default_cache_dir() -> Path:
    """
    Return the per-user cache directory for access tokens.
    """
    if sys.platform == "linux":
        return _xdg_dir("XDG_CACHE_HOME", "~/.cache")
    else:
        import platformdirs

        return Path(platformdirs.user_cache_dir(APP_NAME))


# -- the parsers: text as typed → value, or a ValueError saying what is wrong ---------------


def normalize_auth_url(url: str) -> str:
    """
    Return *url* without a trailing slash, after checking it is an http(s) base URL.

    Raises:
        ValueError: with a sentence fit for the user.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http(s) URL; give the service's base URL, "
            f"for example {DEFAULT_AUTH_URL}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "the auth URL must not carry a user name or password (it would be logged); "
            "give the login through SPATIAFI_USERNAME and SPATIAFI_PASSWORD"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not carry a query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return url.strip().rstrip("/")


def validate_profile_name(name: str) -> str:
    """
    Return *name* if it can name a directory safely.

    Raises:
        ValueError: with a sentence fit for the user.
    """
    if not _PROFILE_NAME.fullmatch(name):
        raise ValueError(
            f"{name[:80]!r} is not a valid profile name; use letters, digits, '.', '_' or '-' "
            "(at most 64, not starting with '.', '_' or '-')"
        )
    return name


def _seconds(maximum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        seconds = parse_duration(text)
        if not 0 < seconds <= maximum or not math.isfinite(seconds):
            raise ValueError(f"{text!r} must be more than 0 and at most {format_duration(maximum)}")
        return seconds

    return parse


def parse_flag(text: str) -> bool:
    """
    Return the boolean a variable spells (click's spellings: 1/0, true/false, yes/no, on/off).

    Raises:
        ValueError: for anything else.
    """
    value = text.strip().lower()
    if value in ("1", "true", "t", "yes", "y", "on"):
        return True
    if value in ("", "0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"{text[:40]!r} is not a boolean; use 1 or 0, true or false")


def _directory(text: str) -> Path:
    if "\0" in text:
        raise ValueError("a path cannot contain a NUL character")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{text!r} is not a directory")
    return path


class SettingSpec(NamedTuple):
    """
    One setting: its field, CLI option, environment variable and parser.
    """

    field: str
    option: str
    env: str
    parse: Callable[[str], Any]

    def convert(self, text: str, *, source: str) -> Any:
        """
        Return the parsed value of *text*, given through *source* (the option or variable).

        Raises:
            InvalidSetting: naming *source*.
        """
        try:
            return self.parse(text)
        except ValueError as exc:
            raise InvalidSetting(f"{source}: {exc}", setting=source) from None


def check_source_spec(spec: str) -> str:
    """
    Return *spec* if it names a source (the setting's parser: no I/O).

    Raises:
        ValueError: naming the kinds there are.
    """
    text = spec.strip()
    if text in ("env", "profile"):
        return text
    for kind in ("env:", "file:", "aws-secretsmanager:"):
        if text.startswith(kind) and len(text) > len(kind):
            return text
    raise ValueError(
        f"{spec[:80]!r} is not a credentials source; use env, env:NAME, file:PATH, profile "
        "or aws-secretsmanager:SECRET-ID"
    )


def _store(text: str) -> str:
    spec = text.strip()
    prefix = "aws-secretsmanager:"
    if not spec.startswith(prefix) or len(spec) == len(prefix):
        raise ValueError(
            f"{text[:80]!r} is not a store; use aws-secretsmanager:SECRET-ID (docs/aws-rotation.md)"
        )
    return spec


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("auth_url", "--auth-url", "SPATIAFI_AUTH_URL", normalize_auth_url),
    SettingSpec("profile", "--profile", "SPATIAFI_PROFILE", validate_profile_name),
    SettingSpec("config_dir", "--config-dir", "SPATIAFI_CONFIG_DIR", _directory),
    SettingSpec("cache_dir", "--cache-dir", "SPATIAFI_CACHE_DIR", _directory),
    SettingSpec("timeout", "--timeout", "SPATIAFI_TIMEOUT", _seconds(MAX_TIMEOUT)),
    SettingSpec("deadline", "--deadline", "SPATIAFI_DEADLINE", _seconds(MAX_DEADLINE)),
    SettingSpec(
        "allow_insecure_permissions",
        "--allow-insecure-permissions",
        "SPATIAFI_ALLOW_INSECURE_PERMISSIONS",
        parse_flag,
    ),
    SettingSpec(
        "allow_insecure_transport",
        "--allow-insecure-transport",
        "SPATIAFI_ALLOW_INSECURE_TRANSPORT",
        parse_flag,
    ),
    SettingSpec(
        "credentials_from", "--credentials-from", "SPATIAFI_CREDENTIALS_FROM", check_source_spec
    ),
    SettingSpec("store", "--store", "SPATIAFI_STORE", _store),
)
SETTING_BY_FIELD = {spec.field: spec for spec in SETTINGS}


class Settings(NamedTuple):
    """
    Where to talk to and where to keep things; one instance per command or application.

    ``auth_url`` ``None`` means the profile's own: the URL its credentials were created
    at, else ``DEFAULT_AUTH_URL`` (``resolve()``). A given URL overrides the profile's.
    """

    auth_url: str | None = None
    profile: str = DEFAULT_PROFILE
    config_dir: Path | None = None
    cache_dir: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    allow_insecure_permissions: bool = False
    # http:// to a host that is not loopback sends secrets in cleartext: refused unless set.
    allow_insecure_transport: bool = False
    # Where consumers read app credentials (a source spec, see credentials/_sources); None:
    # env, else the profile.
    credentials_from: str | None = None
    # Where the profile's credentials and rotation journal live when not in config_dir:
    # aws-secretsmanager:SECRET-ID (docs/aws-rotation.md).
    store: str | None = None

    @property
    def url(self) -> str:
        """
        Return the auth URL to talk to: the given or resolved one, else the default.
        """
        return self.auth_url if self.auth_url is not None else DEFAULT_AUTH_URL

    def resolve(self, stored_url: str | None) -> Settings:
        """
        Return these settings with the auth URL of a profile whose credentials were
        created at *stored_url*: the given URL wins, with a warning when they differ.
        """
        if self.auth_url is None:
            return self._replace(auth_url=stored_url or DEFAULT_AUTH_URL)
        if stored_url and stored_url.rstrip("/") != self.auth_url:
            log.warning(
                "auth_url_overridden",
                profile=self.profile,
                auth_url=self.auth_url,
                stored_auth_url=stored_url,
                detail="the profile's credentials were created at another auth URL",
            )
        return self

    def resolved_config_dir(self) -> Path:
        """
        Return the configured directory, or py-spatiafi's default.
        """
        return self.config_dir if self.config_dir is not None else default_config_dir()

    def resolved_cache_dir(self) -> Path:
        """
        Return the configured token cache directory, or the per-user default.
        """
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """
        Build settings from the ``SPATIAFI_*`` variables (the CLI does the same, then
        applies its options); an empty variable is unset.

        Raises:
            InvalidSetting: naming the variable whose value is malformed.
        """
        env = os.environ if environ is None else environ
        values = {
            spec.field: spec.convert(env[spec.env], source=spec.env)
            for spec in SETTINGS
            if env.get(spec.env)
        }
        return cls(**values)
