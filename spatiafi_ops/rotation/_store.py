"""
Where the engine keeps a profile: its current credentials, its journal, the replaced ones.

``CredentialStore`` is the one seam between the engine and persistence. ``FileStore`` is the
config directory (``app_credentials.json`` and ``rotation-state.json`` beside it, README:
Files); a store of another kind (AWS Secrets Manager, say) implements the same five
operations, and the engine's ownership rule asks it who else holds a client.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Protocol

from .._errors import CredentialFileError, SpatiafiOpsError
from .._models import AppCredentials
from ..credentials._credfile import read_private_json
from ..credentials._store import ProfilePaths, Store, profile_directories
from ._state import RotationState


class CredentialStore(Protocol):
    """
    One profile's persistence, as the engine needs it.

    The caller serialises writers (the file store: the profile lock), so ``switch`` may
    assume nobody else switches between its ``current()`` and its write; a store that
    cannot lock compares and swaps instead, and raises if *replacing* is no longer current.
    """

    @property
    def profile(self) -> str:
        """
        The profile's name, as results and messages show it.
        """

    def current(self) -> AppCredentials | None:
        """
        Return the credentials the profile holds now, or ``None``.
        """

    def load_journal(self) -> RotationState:
        """
        Return the profile's journal (an empty one when there is none).
        """

    def save_journal(self, state: RotationState) -> None:
        """
        Write the journal durably; it reaches the store before the remote write it precedes.
        """

    def switch(self, new: AppCredentials, *, replacing: AppCredentials | None) -> None:
        """
        Make *new* the profile's current credentials, atomically, in place of *replacing*.
        """

    def keep(self, credentials: AppCredentials) -> None:
        """
        Keep replaced *credentials* readable (still valid at the service) for the user.
        """

    def holders(self, client_id: str) -> frozenset[str]:
        """
        Return every profile of this store's scope that stores *client_id* now, this one
        included; read at the call, never from a snapshot.
        """

    def claimed_client_ids(self) -> frozenset[str]:
        """
        Return every client id a profile of this scope stores or journals (reconciliation
        never takes one of them for a lost create's client).
        """


class FileStore:
    """
    A profile in the config directory; every profile of that directory shares its scope.
    """

    def __init__(self, store: Store) -> None:
        self.files = store

    @property
    def profile(self) -> str:
        return self.files.profile

    def current(self) -> AppCredentials | None:
        return self.files.read()

    def load_journal(self) -> RotationState:
        return RotationState.load(self.files.paths)  # the journal: only ever ours, 0600

    def save_journal(self, state: RotationState) -> None:
        state.save(self.files.paths)

    def switch(self, new: AppCredentials, *, replacing: AppCredentials | None) -> None:
        del replacing  # the profile lock keeps other writers out
        self.files.write(new)

    def keep(self, credentials: AppCredentials) -> None:
        self.files.backup(credentials)

    def holders(self, client_id: str) -> frozenset[str]:
        found = set()
        for paths in _STORED_IDS.profiles(self._config_dir()):
            for path in paths.candidates:  # the files a consumer of the profile reads
                stored = _STORED_IDS.of(path)
                if stored is UNREADABLE or stored == client_id:
                    found.add(paths.profile)  # a file we cannot read may hold it
        return frozenset(found)

    def claimed_client_ids(self) -> frozenset[str]:
        ids: set[str] = set()
        for paths in profile_directories(self._config_dir()):
            for path in (paths.credentials, paths.legacy):  # a stray file counts too
                stored = _STORED_IDS.of(path)
                if stored is not None and stored is not UNREADABLE:
                    ids.add(stored)
            with contextlib.suppress(SpatiafiOpsError, OSError):
                ids |= RotationState.load(paths, allow_insecure=True).known_client_ids()
        return frozenset(ids)

    def _config_dir(self) -> Path:
        return self.files.settings.resolved_config_dir()


# What _stored_id returns for a file that exists but cannot be read: it may hold any client.
UNREADABLE = "<unreadable>"


class _StoredIds:
    """
    The client id each credentials file stores, read again only when the file changed.

    The ownership rule reads every profile's file at each DELETE decision; a fleet run of N
    profiles makes N decisions, so reading each file afresh is N² opens and reads. A file
    whose identity (device, inode, size, mtime, ctime: a replacement, a write or a chmod
    changes one) is what it was at the last read stores what it stored then, so the decision
    still sees the file as it is now, at the cost of one lstat.
    """

    MAX_ENTRIES = 65536  # a bound on the memory of a long-lived process

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[Path, tuple[tuple[int, ...], str | None]] = {}
        self._listed: dict[Path, tuple[tuple[int, ...], list[ProfilePaths]]] = {}

    def profiles(self, config_dir: Path) -> list[ProfilePaths]:
        """
        Return ``profile_directories(config_dir)``, listed again only when the profiles
        directory changed (adding, removing or renaming a profile's directory changes it).
        """
        try:
            info = os.stat(config_dir / "profiles")
        except OSError:
            return profile_directories(config_dir)
        identity = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
        with self._lock:
            seen = self._listed.get(config_dir)
        if seen is not None and seen[0] == identity:
            return seen[1]
        listed = profile_directories(config_dir)
        with self._lock:
            self._listed[config_dir] = (identity, listed)
        return listed

    def of(self, path: Path) -> str | None:
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return UNREADABLE  # a directory we may not search: it may hold any client
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        with self._lock:
            seen = self._read.get(path)
        if seen is not None and seen[0] == identity:
            return seen[1]
        stored = _stored_id(path)
        with self._lock:
            if len(self._read) >= self.MAX_ENTRIES:
                self._read.clear()
            self._read[path] = (identity, stored)
        return stored


_STORED_IDS = _StoredIds()


def _stored_id(path: Path) -> str | None:
    """
    Return the client id the credentials file at *path* stores: ``None`` when there is no
    such file or it cannot be credentials (corrupt), ``UNREADABLE`` when one exists that
    this user may not read (it proves nothing either way).
    """
    try:
        data = read_private_json(path, allow_insecure=True)
    except CredentialFileError:
        return None  # missing, corrupt or not a regular file: no consumer can mint with it
    except (SpatiafiOpsError, OSError):
        return UNREADABLE  # another user's file, say: it may serve a consumer
    if isinstance(data, dict) and isinstance(data.get("client_id"), str):
        return str(data["client_id"])
    return None
