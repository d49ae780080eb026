"""
The credential store: profiles, py-spatiafi's ``app_credentials.json``, private files.

Default profile: ``<config_dir>/app_credentials.json`` (py-spatiafi reads the same file);
profile NAME: ``<config_dir>/profiles/NAME/app_credentials.json`` (SPEC §5).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from . import _log
from ._config import DEFAULT_PROFILE, Settings, validate_profile_name
from ._errors import CredentialFileError, SpatiafiOpsError
from ._files import atomic_write, check_private, ensure_private_dir, is_insecure
from ._models import AppCredentials, check_client_id, format_timestamp, parse_timestamp
from ._redaction import REDACTED, register_secret

log = _log.get_logger(__name__)

CREDENTIALS_FILE = "app_credentials.json"
LEGACY_FILE = "app_credentials"  # what the first tutorial wrote (SPEC §2)
STATE_FILE = "rotation-state.json"
LOCK_FILE = ".lock"
BACKUP_DIR = "backups"


class ProfilePaths(NamedTuple):
    """
    Where one profile keeps its files; rotation state and lock live beside the credentials.
    """

    profile: str
    directory: Path

    @classmethod
    def of(cls, config_dir: Path, profile: str) -> ProfilePaths:
        validate_profile_name(profile)
        if profile == DEFAULT_PROFILE:
            return cls(profile, config_dir)
        return cls(profile, config_dir / "profiles" / profile)

    @property
    def credentials(self) -> Path:
        return self.directory / CREDENTIALS_FILE

    @property
    def legacy(self) -> Path:
        return self.directory / LEGACY_FILE

    @property
    def state(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def lock(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def backups(self) -> Path:
        return self.directory / BACKUP_DIR


def list_profiles(config_dir: Path) -> list[str]:
    """
    Return the profiles that hold credentials under *config_dir*, default first.
    """
    return [
        paths.profile
        for paths in profile_directories(config_dir)
        if paths.credentials.is_file()
        or (paths.profile == DEFAULT_PROFILE and paths.legacy.is_file())
    ]


def profile_directories(config_dir: Path) -> list[ProfilePaths]:
    """
    Return the paths of every profile directory under *config_dir*, default first.
    """
    found = [ProfilePaths(DEFAULT_PROFILE, config_dir)]
    profiles_dir = config_dir / "profiles"
    if profiles_dir.is_dir():
        found += [
            ProfilePaths(entry.name, entry)
            for entry in sorted(profiles_dir.iterdir())
            if entry.is_dir() and _is_profile_name(entry.name)
        ]
    return found


def stored_client_ids(config_dir: Path) -> dict[str, str]:
    """
    Return client id → profile for the credentials every profile stores (best effort:
    unreadable files are skipped).
    """
    holders: dict[str, str] = {}
    for paths in profile_directories(config_dir):
        for path in (paths.credentials, paths.legacy):
            with contextlib.suppress(SpatiafiOpsError, OSError):
                if path.is_file():
                    data = read_private_json(path, allow_insecure=True)
                    if isinstance(data, dict) and isinstance(data.get("client_id"), str):
                        holders.setdefault(data["client_id"], paths.profile)
    return holders


def _is_profile_name(name: str) -> bool:
    try:
        validate_profile_name(name)
    except ValueError:
        return False
    return True


def credentials_from_json(data: Any, path: Path) -> AppCredentials:
    """
    Build credentials from a parsed file, naming what is missing or malformed.

    Raises:
        CredentialFileError: for a non-object, or a missing or empty id or secret.
    """
    if not isinstance(data, dict):
        raise CredentialFileError(
            f"{path} does not hold a JSON object; fix or remove it", path=str(path)
        )
    missing = [
        k for k in ("client_id", "client_secret") if not isinstance(data.get(k), str) or not data[k]
    ]
    if missing:
        raise CredentialFileError(
            f"{path} is incomplete: {' and '.join(missing)} missing or empty; "
            "fix it or create new credentials with 'credentials create --force'",
            path=str(path),
        )
    try:
        check_client_id(data["client_id"])
    except ValueError as exc:
        raise CredentialFileError(f"{path}: {exc}", path=str(path)) from None
    created_at = None
    if isinstance(data.get("created_at"), str):
        try:
            created_at = parse_timestamp(data["created_at"])
        except ValueError:
            raise CredentialFileError(
                f"{path} has an invalid created_at {data['created_at']!r}", path=str(path)
            ) from None
    register_secret(data["client_secret"])
    user_id = data.get("user_id")
    auth_url = data.get("auth_url")
    return AppCredentials(
        client_id=data["client_id"],
        client_secret=data["client_secret"],
        user_id=str(user_id) if user_id is not None else None,
        created_at=created_at,
        auth_url=auth_url if isinstance(auth_url, str) else None,
    )


def credentials_to_json(credentials: AppCredentials) -> dict[str, Any]:
    """
    Return the file form: py-spatiafi's three keys first, then our non-secret metadata.
    """
    data: dict[str, Any] = {
        "user_id": credentials.user_id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }
    if credentials.created_at is not None:
        data["created_at"] = format_timestamp(credentials.created_at)
    if credentials.auth_url is not None:
        data["auth_url"] = credentials.auth_url
    return data


def read_private_json(path: Path, *, allow_insecure: bool = False) -> Any:
    """
    Read a JSON file that holds secrets, refusing insecure modes and reporting corruption.

    Raises:
        CredentialFileError: unreadable, a directory, or not JSON.
        InsecurePermissions: readable by group or others (unless allowed).
    """
    if path.is_dir():
        raise CredentialFileError(f"{path} is a directory, not a credential file", path=str(path))
    check_private(path, allow_insecure=allow_insecure)
    if allow_insecure and is_insecure(path):
        log.warning("insecure_permissions_allowed", path=str(path))
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialFileError(
            f"{path} is not UTF-8 text; fix or remove it", path=str(path)
        ) from None
    except OSError as exc:
        raise CredentialFileError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}); "
            "it was left untouched: fix or remove it",
            path=str(path),
        ) from None


def write_private_json(path: Path, data: Any) -> None:
    """
    Atomically write *data* as JSON with mode 0600 in a 0700 directory.
    """
    ensure_private_dir(path.parent)
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode())


class Store:
    """
    One profile's stored credentials.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ProfilePaths.of(settings.resolved_config_dir(), settings.profile)

    @property
    def profile(self) -> str:
        return self.paths.profile

    def read(self) -> AppCredentials | None:
        """
        Return the stored credentials, or ``None`` when the profile has none yet.
        """
        for path in (self.paths.credentials, self.paths.legacy):
            if path == self.paths.legacy and self.profile != DEFAULT_PROFILE:
                break
            if path.exists():
                data = read_private_json(
                    path, allow_insecure=self.settings.allow_insecure_permissions
                )
                return credentials_from_json(data, path)
        return None

    def resolved_settings(self) -> Settings:
        """
        Return the settings with this profile's auth URL (where its credentials were
        created), unless one was given. Best effort: an unreadable store keeps the default.
        """
        try:
            stored = self.read()
        except SpatiafiOpsError:
            stored = None
        return self.settings.resolve(stored.auth_url if stored is not None else None)

    def write(self, credentials: AppCredentials) -> None:
        """
        Store *credentials* as the profile's current ones, atomically.
        """
        write_private_json(self.paths.credentials, credentials_to_json(credentials))
        legacy = self.paths.legacy
        if self.profile == DEFAULT_PROFILE and legacy.is_file():
            # The tutorial's extension-less file would go on serving the replaced secret.
            backup = (
                self.paths.backups / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-legacy.json"
            )
            ensure_private_dir(backup.parent)
            legacy.replace(backup)
        log.debug("credentials_stored", profile=self.profile, client_id=credentials.client_id)

    def backup(self, credentials: AppCredentials) -> Path:
        """
        Keep a copy of *credentials* that are being replaced; return where.
        """
        path = self._backup_path(credentials.client_id)
        write_private_json(path, credentials_to_json(credentials))
        return path

    def _backup_path(self, label: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return self.paths.backups / f"{stamp}-{label}.json"

    def describe(self, *, show_secret: bool = False) -> dict[str, Any]:
        """
        Return what ``credentials show`` prints: the stored credentials and where they
        live, the secret redacted unless asked for.

        Raises:
            CredentialFileError: when the profile holds none.
        """
        stored = self.require()
        data = credentials_to_json(stored)
        if not show_secret:
            data["client_secret"] = REDACTED
        return {"profile": self.profile, "path": str(self.paths.credentials), **data}

    def require(self) -> AppCredentials:
        """
        Return the stored credentials, or say how to create them.

        Raises:
            CredentialFileError: when the profile holds none.
        """
        credentials = self.read()
        if credentials is None:
            raise CredentialFileError(
                f"no credentials stored for profile {self.profile!r} "
                f"(looked for {self.paths.credentials}); create them with "
                f"'spatiafi-ops --profile {self.profile} credentials create' or set "
                "SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET",
                path=str(self.paths.credentials),
            )
        return credentials


# What a child process (exec's command, a publishing command) never inherits: the app
# credentials as a pair, and the user's password.
WITHHELD_VARIABLES = frozenset(
    {"SPATIAFI_CLIENT_ID", "SPATIAFI_CLIENT_SECRET", "SPATIAFI_PASSWORD"}
)


def without_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """
    Return *environ* without the variables that hold (or half-hold) credentials.
    """
    return {name: value for name, value in environ.items() if name not in WITHHELD_VARIABLES}


def credentials_from_env(environ: Mapping[str, str] | None = None) -> AppCredentials | None:
    """
    Return credentials from ``SPATIAFI_CLIENT_ID``/``_SECRET`` when both are non-empty.
    """
    env = os.environ if environ is None else environ
    client_id = env.get("SPATIAFI_CLIENT_ID", "").strip()
    client_secret = env.get("SPATIAFI_CLIENT_SECRET", "")
    if client_id and client_secret:
        register_secret(client_secret)
        return AppCredentials(client_id=client_id, client_secret=client_secret)
    if client_id or client_secret:
        log.warning(
            "partial_env_credentials_ignored",
            reason="set both SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET, or neither",
        )
    return None
