"""
The journal on disk: a profile's ``rotation-state.json``, read and written whole.

The file sits beside the profile's credentials (0600, written atomically and fsynced)::

    {
      "version": 2,
      "rotation": null | {                       # the change in progress
        "rotation_id": "<uuid4>",
        "kind": "create" | "replace" | "repair" | "rotate",
        "phase": "planned" | "created",          # created: the new secret is journaled
        "started_at": "<ISO>", "host": "...", "pid": 123,
        "revoke_old": true, "grace_s": 3600.0,
        "create_attempts": ["<ISO>", ...],       # create POSTs sent, answer not journaled
        "old": null | {"user_id", "client_id", "client_secret", "created_at", "auth_url"},
        "pending": null | {...the same keys, for the new client}
      },
      "previous": null | {...credentials, "rotation_id", "revoke_after": "<ISO>" | null},
      "revoking": [...],                         # DELETEs sent, outcome not recorded yet
      "rejected_repair": null | {"client_id", "at", "error"},  # a new client the service refused
      "published": null | {"client_id", "sinks": {"<sink spec>": "<ISO>"},  # who has it
                           "owed": ["<sink spec>", ...]},  # who must have it first
      "created_client_ids": [...],               # clients this profile created, newest last
      "held_client_ids": [...],                  # clients this profile stored, newest last
      "orphaned_client_ids": [...],              # possible lost-create clients, reported
      "manual_revoke_client_ids": [...],         # clients the user must revoke by hand
      "lost_creates": ["<ISO>", ...],            # create requests whose client may appear
      "exclusive_account": false                 # no other machine creates on the account
    }

Every list is capped and no client listing is kept (a lost create is reconciled by the
clients dated in its window), so the file stays far below the size the tool reads back
(``MAX_STATE_BYTES``) on an account with any number of clients. A ``clients_before`` list
that an earlier version wrote is not read.

Version 1 files (the first release) are read too: their ``replace`` journals came from
``ensure`` and are read as ``repair``. The engine that drives the file is ``_engine``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._errors import CredentialFileError
from .._models import AppCredentials, check_client_id, format_timestamp, parse_timestamp
from .._statefiles import read_private_file
from ..credentials._credfile import (
    credentials_from_json,
    credentials_to_json,
    parse_state_json,
    write_private_json,
)
from ..credentials._store import ProfilePaths

# create: a profile without credentials; replace: `create --force`; repair: `ensure` over
# rejected credentials; rotate: `rotate`, the only kind with a grace period by default.
Kind = Literal["create", "replace", "repair", "rotate"]
Phase = Literal["planned", "created"]
KINDS: tuple[Kind, ...] = ("create", "replace", "repair", "rotate")
PHASES: tuple[Phase, ...] = ("planned", "created")

STATE_VERSION = 2
HISTORY_LIMIT = 100
# Lost create requests remembered at once (each is dropped once its window has passed).
LOST_CREATES_LIMIT = 20
# Why this profile may revoke a client: it created it, or it stored it (a sink may have it).
JournalProof = Literal["created", "held"]


def _client_ids(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return [check_client_id(item) for item in value if isinstance(item, str)]


@dataclass
class Journal:
    """
    One change in progress, as journaled before each remote write.
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
            "old": credentials_to_json(self.old) if self.old else None,
            "pending": credentials_to_json(self.pending) if self.pending else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path, version: int) -> Journal:
        kind = data["kind"]
        if version == 1 and kind == "replace":
            kind = "repair"  # version 1 journaled only ensure's replacements
        phase = data["phase"]
        if kind not in KINDS or phase not in PHASES:
            raise ValueError("unknown kind or phase")
        pending, old = data.get("pending"), data.get("old")
        journal = cls(
            rotation_id=str(data["rotation_id"]),
            kind=kind,
            phase=phase,
            started_at=parse_timestamp(data["started_at"]),
            old=credentials_from_json(old, path) if old else None,
            revoke_old=bool(data.get("revoke_old", True)),
            grace=float(data.get("grace_s", 0.0)),
            host=str(data.get("host", "")),
            pid=int(data.get("pid", 0)),
            create_attempts=[parse_timestamp(t) for t in data.get("create_attempts", [])],
            pending=credentials_from_json(pending, path) if pending else None,
        )
        if journal.phase == "created" and journal.pending is None:
            raise ValueError("no pending credentials after the create")
        return journal


@dataclass
class Previous:
    """
    The credentials a change replaced: still valid, kept readable until revoked.
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
    def from_json(cls, data: dict[str, Any], path: Path) -> Previous:
        after = data.get("revoke_after")
        return cls(
            credentials=credentials_from_json(data, path),
            rotation_id=data.get("rotation_id"),
            revoke_after=parse_timestamp(after) if after else None,
        )


@dataclass
class RejectedRepair:
    """
    A new client the service refused at verification: the next repair must not create
    another one the same way (that would churn clients), but report and stop.
    """

    client_id: str
    at: float
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "at": format_timestamp(self.at), "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RejectedRepair:
        error = data.get("error")
        return cls(
            client_id=check_client_id(str(data["client_id"])),
            at=parse_timestamp(data["at"]),
            error=error if isinstance(error, str) else None,
        )


@dataclass
class Published:
    """
    Which sinks confirmed the current client, and when: the previous client is revoked
    only once every sink of the run has the current one.
    """

    client_id: str
    sinks: dict[str, float] = field(default_factory=dict)
    # Sinks a change owes the current client: named by the run that made it, or by a
    # later run, or inherited from the client before it; --forget-sink drops one.
    owed: list[str] = field(default_factory=list)

    def missing(self) -> list[str]:
        """
        Return the owed sinks that have not confirmed the current client.
        """
        return [target for target in self.owed if target not in self.sinks]

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "sinks": {target: format_timestamp(at) for target, at in self.sinks.items()},
            "owed": self.owed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Published:
        sinks, owed = data.get("sinks", {}), data.get("owed", [])
        if not isinstance(sinks, dict) or not isinstance(owed, list):
            raise ValueError("published sinks is not an object, or owed not a list")
        return cls(
            client_id=check_client_id(str(data["client_id"])),
            sinks={str(target): parse_timestamp(at) for target, at in sinks.items()},
            owed=[str(target) for target in owed],
        )


@dataclass
class RotationState:
    """
    The parsed ``rotation-state.json`` of one profile.
    """

    rotation: Journal | None = None
    previous: Previous | None = None
    revoking: list[str] = field(default_factory=list)
    rejected_repair: RejectedRepair | None = None
    published: Published | None = None
    created_client_ids: list[str] = field(default_factory=list)
    held_client_ids: list[str] = field(default_factory=list)
    orphaned_client_ids: list[str] = field(default_factory=list)
    manual_revoke_client_ids: list[str] = field(default_factory=list)
    lost_creates: list[float] = field(default_factory=list)
    exclusive_account: bool = False

    @classmethod
    def load(cls, paths: ProfilePaths, *, allow_insecure: bool = False) -> RotationState:
        """
        Read the profile's state; a missing file is an empty state.

        Raises:
            CredentialFileError: for a corrupt file (left untouched: it may hold a secret).
        """
        path = paths.state
        stored = read_private_file(path, allow_insecure=allow_insecure)
        if stored is None:  # missing; a dangling link or a FIFO is refused, never "empty"
            return cls()
        data = parse_state_json(stored.data, path)
        try:
            if not isinstance(data, dict) or data.get("version") not in (1, STATE_VERSION):
                raise ValueError("not a version 1 or 2 state object")
            version = data["version"]
            rotation, previous = data.get("rotation"), data.get("previous")
            rejected = data.get("rejected_repair")
            published = data.get("published")
            return cls(
                rotation=Journal.from_json(rotation, path, version) if rotation else None,
                previous=Previous.from_json(previous, path) if previous else None,
                revoking=_client_ids(data.get("revoking", []), "revoking"),
                rejected_repair=RejectedRepair.from_json(rejected) if rejected else None,
                published=Published.from_json(published) if published else None,
                created_client_ids=_client_ids(data.get("created_client_ids", []), "created"),
                held_client_ids=_client_ids(data.get("held_client_ids", []), "held"),
                orphaned_client_ids=_client_ids(data.get("orphaned_client_ids", []), "orphans"),
                manual_revoke_client_ids=_client_ids(
                    data.get("manual_revoke_client_ids", []), "manual_revoke_client_ids"
                ),
                lost_creates=[parse_timestamp(t) for t in data.get("lost_creates", [])],
                exclusive_account=data.get("exclusive_account", False) is True,
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise CredentialFileError(
                f"{path} is not a valid rotation state ({type(exc).__name__}); it was left "
                "untouched because it may hold a pending secret: fix it or move it away",
                path=str(path),
            ) from None

    def save(self, paths: ProfilePaths) -> None:
        """
        Write the state atomically (temp file, fsync, rename, fsync of the directory).
        """
        write_private_json(paths.state, self.to_json(), indent=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "rotation": self.rotation.to_json() if self.rotation else None,
            "previous": self.previous.to_json() if self.previous else None,
            "revoking": self.revoking,
            "rejected_repair": self.rejected_repair.to_json() if self.rejected_repair else None,
            "published": self.published.to_json() if self.published else None,
            "created_client_ids": self.created_client_ids[-HISTORY_LIMIT:],
            "held_client_ids": self.held_client_ids[-HISTORY_LIMIT:],
            "orphaned_client_ids": self.orphaned_client_ids[-HISTORY_LIMIT:],
            "manual_revoke_client_ids": self.manual_revoke_client_ids[-HISTORY_LIMIT:],
            "lost_creates": [format_timestamp(t) for t in self.lost_creates[-LOST_CREATES_LIMIT:]],
            "exclusive_account": self.exclusive_account,
        }

    def proof(self, client_id: str) -> JournalProof | None:
        """
        Return what this journal proves about *client_id*: this profile stored it (so a
        sink may serve it), or created it without storing it, or nothing.
        """
        held = set(self.held_client_ids)
        if self.previous is not None:
            held.add(self.previous.credentials.client_id)
        if self.rotation is not None and self.rotation.old_client_id is not None:
            held.add(self.rotation.old_client_id)
        if client_id in held:
            return "held"
        created = set(self.created_client_ids)
        if self.rotation is not None and self.rotation.pending is not None:
            created.add(self.rotation.pending.client_id)
        if self.exclusive_account:
            created |= set(self.orphaned_client_ids)  # only a lost create of ours made them
        return "created" if client_id in created else None

    def known_client_ids(self) -> set[str]:
        """
        Return every client id this state knows of (ours, whatever their status).
        """
        ids = set(self.created_client_ids) | set(self.manual_revoke_client_ids)
        ids |= set(self.held_client_ids)
        ids |= set(self.orphaned_client_ids) | set(self.revoking)
        if self.previous is not None:
            ids.add(self.previous.credentials.client_id)
        if self.rotation is not None:
            if self.rotation.old_client_id:
                ids.add(self.rotation.old_client_id)
            if self.rotation.pending is not None:
                ids.add(self.rotation.pending.client_id)
        return ids
