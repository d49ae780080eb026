"""
The credential store: profiles, py-spatiafi's ``app_credentials.json``, private files.

Default profile: ``<config_dir>/app_credentials.json`` (py-spatiafi reads the same file);
profile NAME: ``<config_dir>/profiles/NAME/app_credentials.json`` (README: Rotation).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from .. import _log
from .._config import DEFAULT_PROFILE, SETTING_BY_FIELD, Settings, validate_profile_name
from .._errors import CredentialFileError, OutputError, SpatiafiOpsError
from .._files import FILE_MODE, atomic_write, ensure_private_dir
from .._models import AppCredentials
from .._redaction import REDACTED
from .._statefiles import NOFOLLOW, NONBLOCK, OPEN_FLAGS, check_private_dir, read_private_file
from ._credfile import (
    credentials_from_json,
    credentials_to_json,
    parse_state_json,
    read_private_json,
    write_private_json,
)

log = _log.get_logger(__name__)

CREDENTIALS_FILE = "app_credentials.json"
LEGACY_FILE = "app_credentials"  # what the first tutorial wrote (README: Files)
STATE_FILE = "rotation-state.json"
LOCK_FILE = ".lock"
# The profile's own store setting: one line, aws-secretsmanager:SECRET-ID (docs/aws-rotation.md).
STORE_FILE = "store"
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
    def candidates(self) -> tuple[Path, ...]:
        """
        The files the profile's credentials may be read from, in order: only the default
        profile reads the tutorial's legacy file.
        """
        if self.profile == DEFAULT_PROFILE:
            return (self.credentials, self.legacy)
        return (self.credentials,)

    @property
    def state(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def store(self) -> Path:
        return self.directory / STORE_FILE

    @property
    def lock(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def backups(self) -> Path:
        return self.directory / BACKUP_DIR

    @property
    def directories(self) -> tuple[Path, ...]:
        """
        The directories this profile's files depend on, from the config dir down.
        """
        if self.profile == DEFAULT_PROFILE:
            return (self.directory,)
        return (self.directory.parent.parent, self.directory.parent, self.directory)

    def check_directories(self) -> None:
        """
        Refuse to use the profile if another user owns, or could write to, one of them.

        Raises:
            InsecurePermissions: naming the directory and the fix.
        """
        for directory in self.directories:
            check_private_dir(directory)


def profile_store(settings: Settings) -> str | None:
    """
    Return where the profile's credentials and journal live when not in the config dir:
    ``settings.store`` (``--store``, ``SPATIAFI_STORE``), else the profile's own setting (the
    ``store`` file that ``credentials create --store`` writes), else ``None``.

    Raises:
        InvalidSetting: for a setting file that names no store.
    """
    if settings.store is not None:
        return settings.store
    path = ProfilePaths.of(settings.resolved_config_dir(), settings.profile).store
    try:
        stored = read_private_file(path, allow_insecure=settings.allow_insecure_permissions)
    except CredentialFileError:
        return None  # a directory or a FIFO there: no setting of ours
    if stored is None:
        return None
    text = stored.data.decode("utf-8", "replace").strip()
    return str(SETTING_BY_FIELD["store"].convert(text, source=str(path)))


def record_profile_store(settings: Settings) -> None:
    """
    Write ``settings.store`` as the profile's own setting, so that commands naming the
    profile alone use the secret.
    """
    if settings.store is not None:
        paths = ProfilePaths.of(settings.resolved_config_dir(), settings.profile)
        ensure_private_dir(paths.directory)
        atomic_write(paths.store, f"{settings.store}\n".encode())


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
        # scandir: the directory's own listing says which entries are directories, with no
        # stat of each (the ownership rule lists them at every revocation of a fleet run).
        with os.scandir(profiles_dir) as entries:
            names = [entry.name for entry in entries if entry.is_dir()]
        found += [
            ProfilePaths(name, profiles_dir / name)
            for name in sorted(names)
            if _is_profile_name(name)
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
        found = self.read_located()
        return found[0] if found is not None else None

    def read_located(
        self, *, allow_insecure: bool | None = None
    ) -> tuple[AppCredentials, Path] | None:
        """
        Return the stored credentials and the file they were read from (our file, else
        the tutorial's legacy one), or ``None`` when the profile has none yet.

        Args:
            allow_insecure: read a file open to group or others (the settings' choice
                when ``None``); other users' files and links are refused whatever it says.

        Raises:
            CredentialFileError: a file that is corrupt, incomplete or not a regular file.
            InsecurePermissions: a directory or file that is not this user's alone.
        """
        if allow_insecure is None:
            allow_insecure = self.settings.allow_insecure_permissions
        self.paths.check_directories()
        for path in self.candidates():
            stored = read_private_file(
                path, allow_insecure=allow_insecure, fix=self._insecure_fix(path)
            )
            if stored is None:
                continue
            if stored.open_to_others:
                log.warning("insecure_permissions_allowed", path=str(path))
            return credentials_from_json(parse_state_json(stored.data, path), path), path
        return None

    def candidates(self) -> tuple[Path, ...]:
        """
        The files the profile's credentials may be read from, in order.
        """
        return self.paths.candidates

    def _insecure_fix(self, path: Path) -> str:
        option = "" if self.profile == DEFAULT_PROFILE else f" --profile {self.profile}"
        return (
            f"run 'spatiafi-ops{option} credentials import' to adopt it (0600 in a 0700 "
            f"directory), or 'chmod 600 {path}'"
        )

    def has_unfinished_rotation(self) -> bool:
        """
        Return whether the profile's rotation state holds a rotation in progress.

        Raises:
            CredentialFileError: when the state file is corrupt or not a regular file.
        """
        stored = read_private_file(self.paths.state)  # the journal: only ever ours, 0600
        if stored is None:
            return False
        data = parse_state_json(stored.data, self.paths.state)
        return isinstance(data, dict) and bool(data.get("rotation"))

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
        self.paths.check_directories()
        write_private_json(self.paths.credentials, credentials_to_json(credentials))
        legacy = self.paths.legacy
        if self.profile == DEFAULT_PROFILE and legacy.is_file():
            # The tutorial's extension-less file would go on serving the replaced secret.
            self.set_aside(legacy, "legacy")
        log.debug("credentials_stored", profile=self.profile, client_id=credentials.client_id)

    def set_aside(self, path: Path, label: str) -> Path:
        """
        Move *path* into the profile's backups, private, and return where it went.

        Raises:
            OutputError: when it cannot be moved.
        """
        backup = self._backup_path(label)
        ensure_private_dir(backup.parent)
        try:
            path.replace(backup)
        except OSError as exc:
            raise OutputError(
                f"cannot move {path} to {backup}: {exc.strerror}", path=str(path)
            ) from None
        _make_private(backup)
        return backup

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
        stored, path = self._require_located()
        data = credentials_to_json(stored)
        if not show_secret:
            data["client_secret"] = REDACTED
        return {"profile": self.profile, "path": str(path), **data}

    def require(self) -> AppCredentials:
        """
        Return the stored credentials, or say how to create them.

        Raises:
            CredentialFileError: when the profile holds none.
        """
        return self._require_located()[0]

    def _require_located(self) -> tuple[AppCredentials, Path]:
        found = self.read_located()
        if found is None:
            raise CredentialFileError(
                f"no credentials stored for profile {self.profile!r} "
                f"(looked for {self.paths.credentials}); create them with "
                f"'spatiafi-ops --profile {self.profile} credentials create', import "
                "py-spatiafi's with 'credentials import PATH', or set "
                "SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET",
                path=str(self.paths.credentials),
            )
        return found


def _make_private(path: Path) -> None:
    """
    Give the regular file at *path* mode 0600 (a file py-spatiafi wrote is 0644); a link
    is left as it is, never followed.
    """
    if sys.platform != "win32":  # there the directory's ACL decides (docs/files.md)
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | OPEN_FLAGS | NOFOLLOW | NONBLOCK)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.fchmod(fd, FILE_MODE)
            finally:
                os.close(fd)


def _is_profile_name(name: str) -> bool:
    try:
        validate_profile_name(name)
    except ValueError:
        return False
    return True
