"""
The rotation journal on disk: a profile's ``rotation-state.json``, read and written whole.

The file sits beside the profile's credentials (0600, written atomically and fsynced)::

    {
      "version": 1,
      "rotation": null | {                       # the rotation in progress
        "rotation_id": "<uuid4>", "kind": "rotate" | "replace" | "create",
        "phase": "planned" | "created",          # created: the new secret is journaled
        "started_at": "<ISO>", "host": "...", "pid": 123,
        "revoke_old": true, "grace_s": 3600.0,
        "create_attempts": ["<ISO>", ...],       # create POSTs sent, answer not journaled
        "clients_before": null | ["<client_id>", ...],  # listed before the first create
        "old": null | {"user_id", "client_id", "client_secret", "created_at", "auth_url"},
        "pending": null | {...the same keys, for the new client}
      },
      "previous": null | {"user_id", "client_id", "client_secret", "created_at", "auth_url",
                          "rotation_id", "revoke_after": "<ISO>" | null},
      "created_client_ids": [...],               # clients this profile created, newest last
      "orphaned_client_ids": [...],              # lost-create clients found by reconciling
      "manual_revoke_client_ids": [...]          # clients the user must revoke by hand
    }

The rotation that reads and writes it is ``_rotation.Rotator``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._errors import CredentialFileError, SpatiafiOpsError
from ._models import AppCredentials, format_timestamp, parse_timestamp
from ._store import (
    ProfilePaths,
    credentials_from_json,
    credentials_to_json,
    profile_directories,
    read_private_json,
    stored_client_ids,
)

Kind = Literal["rotate", "replace", "create"]
Phase = Literal["planned", "created"]

STATE_VERSION = 1
HISTORY_LIMIT = 100


def _string_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("clients_before is not a list of client ids")
    return list(value)


@dataclass
class Journal:
    """
    One rotation in progress, as journaled before each remote write.
    """

    rotation_id: str
    kind: Kind
    phase: Phase
    started_at: float
    old: AppCredentials | None
    revoke_old: bool
    grace: float
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    create_attempts: list[float] = field(default_factory=list)
    # The clients the service listed right before our first create: a lost create's
    # client is one that is not among them (None: not listed, or the service cannot).
    clients_before: list[str] | None = None
    pending: AppCredentials | None = None

    @property
    def old_client_id(self) -> str | None:
        return self.old.client_id if self.old is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rotation_id": self.rotation_id,
            "kind": self.kind,
            "phase": self.phase,
            "started_at": format_timestamp(self.started_at),
            "host": self.host,
            "pid": self.pid,
            "revoke_old": self.revoke_old,
            "grace_s": self.grace,
            "create_attempts": [format_timestamp(t) for t in self.create_attempts],
            "clients_before": self.clients_before,
            "old": credentials_to_json(self.old) if self.old else None,
            "pending": credentials_to_json(self.pending) if self.pending else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], paths: ProfilePaths) -> Journal:
        pending, old = data.get("pending"), data.get("old")
        journal = cls(
            rotation_id=str(data["rotation_id"]),
            kind=data["kind"],
            phase=data["phase"],
            started_at=parse_timestamp(data["started_at"]),
            old=credentials_from_json(old, paths.state) if old else None,
            revoke_old=bool(data.get("revoke_old", True)),
            grace=float(data.get("grace_s", 0.0)),
            host=str(data.get("host", "")),
            pid=int(data.get("pid", 0)),
            create_attempts=[parse_timestamp(t) for t in data.get("create_attempts", [])],
            clients_before=_string_list(data.get("clients_before")),
            pending=credentials_from_json(pending, paths.state) if pending else None,
        )
        if journal.kind not in ("rotate", "replace", "create") or journal.phase not in (
            "planned",
            "created",
        ):
            raise ValueError("unknown kind or phase")
        if journal.phase != "planned" and journal.pending is None:
            raise ValueError("no pending credentials after the create")
        return journal


@dataclass
class Previous:
    """
    The credentials a rotation replaced: still valid, kept readable until revoked.
    """

    credentials: AppCredentials
    rotation_id: str | None
    revoke_after: float | None  # None: kept (--keep-old), never revoked by us

    def to_json(self) -> dict[str, Any]:
        return {
            **credentials_to_json(self.credentials),
            "rotation_id": self.rotation_id,
            "revoke_after": format_timestamp(self.revoke_after) if self.revoke_after else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], paths: ProfilePaths) -> Previous:
        after = data.get("revoke_after")
        return cls(
            credentials=credentials_from_json(data, paths.state),
            rotation_id=data.get("rotation_id"),
            revoke_after=parse_timestamp(after) if after else None,
        )


@dataclass
class RotationState:
    """
    The parsed ``rotation-state.json`` of one profile.
    """

    rotation: Journal | None = None
    previous: Previous | None = None
    created_client_ids: list[str] = field(default_factory=list)
    orphaned_client_ids: list[str] = field(default_factory=list)
    manual_revoke_client_ids: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, paths: ProfilePaths, *, allow_insecure: bool = False) -> RotationState:
        """
        Read the profile's state; a missing file is an empty state.

        Raises:
            CredentialFileError: for a corrupt file (left untouched: it may hold a secret).
        """
        if not paths.state.exists():
            return cls()
        data = read_private_json(paths.state, allow_insecure=allow_insecure)
        try:
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError("not a version 1 state object")
            return cls(
                rotation=Journal.from_json(data["rotation"], paths) if data["rotation"] else None,
                previous=Previous.from_json(data["previous"], paths) if data["previous"] else None,
                created_client_ids=[str(c) for c in data.get("created_client_ids", [])],
                orphaned_client_ids=[str(c) for c in data.get("orphaned_client_ids", [])],
                manual_revoke_client_ids=[str(c) for c in data.get("manual_revoke_client_ids", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CredentialFileError(
                f"{paths.state} is not a valid rotation state ({type(exc).__name__}); it was "
                "left untouched because it may hold a pending secret: fix it or move it away",
                path=str(paths.state),
            ) from None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "rotation": self.rotation.to_json() if self.rotation else None,
            "previous": self.previous.to_json() if self.previous else None,
            "created_client_ids": self.created_client_ids[-HISTORY_LIMIT:],
            "orphaned_client_ids": self.orphaned_client_ids[-HISTORY_LIMIT:],
            "manual_revoke_client_ids": self.manual_revoke_client_ids[-HISTORY_LIMIT:],
        }

    def known_client_ids(self) -> set[str]:
        """
        Return every client id this state knows of (ours, whatever their status).
        """
        ids = set(self.created_client_ids) | set(self.manual_revoke_client_ids)
        ids |= set(self.orphaned_client_ids)
        if self.previous is not None:
            ids.add(self.previous.credentials.client_id)
        if self.rotation is not None:
            if self.rotation.old_client_id:
                ids.add(self.rotation.old_client_id)
            if self.rotation.pending is not None:
                ids.add(self.rotation.pending.client_id)
        return ids


def profile_client_ids(config_dir: Path) -> set[str]:
    """
    Return the client ids that any profile under *config_dir* stores or journals.

    Best effort: an unreadable profile is skipped (reconciling must never revoke a client
    that a profile holds, so it also keeps unattributable clients, see ``Rotator``).
    """
    ids = set(stored_client_ids(config_dir))
    for paths in profile_directories(config_dir):
        with contextlib.suppress(SpatiafiOpsError, OSError):
            ids |= RotationState.load(paths, allow_insecure=True).known_client_ids()
    return ids
