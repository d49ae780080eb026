"""
Settings shared by every layer, with the documented defaults (SPEC §3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from ._durations import parse_duration

DEFAULT_AUTH_URL = "https://auth.spatiafi.com"
DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 60.0
DEFAULT_MIN_TTL = 60.0
APP_NAME = "spatiafi"


def default_config_dir() -> Path:
    """
    Return py-spatiafi's credential directory, so that both tools share one file.
    """
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def default_cache_dir() -> Path:
    """
    Return the per-user cache directory for access tokens.
    """
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


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


class Settings(NamedTuple):
    """
    Where to talk to and where to keep things; one instance per command or application.
    """

    auth_url: str = DEFAULT_AUTH_URL
    profile: str = DEFAULT_PROFILE
    config_dir: Path | None = None
    cache_dir: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    allow_insecure_permissions: bool = False
    # http:// to a host that is not loopback sends secrets in cleartext: refused unless set.
    allow_insecure_transport: bool = False

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
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """
        Build settings from the ``SPATIAFI_*`` variables, for applications that use no CLI.
        """
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            auth_url=normalize_auth_url(env.get("SPATIAFI_AUTH_URL") or DEFAULT_AUTH_URL),
            profile=env.get("SPATIAFI_PROFILE") or DEFAULT_PROFILE,
            config_dir=path("SPATIAFI_CONFIG_DIR"),
            cache_dir=path("SPATIAFI_CACHE_DIR"),
            timeout=parse_duration(env.get("SPATIAFI_TIMEOUT") or str(DEFAULT_TIMEOUT)),
            deadline=parse_duration(env.get("SPATIAFI_DEADLINE") or str(DEFAULT_DEADLINE)),
        )
