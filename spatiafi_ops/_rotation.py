"""
The rotation journal: a resumable create → journal → verify → switch → grace → revoke (SPEC §5).

The journal is the profile's ``rotation-state.json``, beside its credentials (0600, written
atomically and fsynced)::

    {
      "version": 1,
      "rotation": null | {                       # the rotation in progress
        "rotation_id": "<uuid4>", "kind": "rotate" | "replace" | "create",
        "phase": "planned" | "created",          # created: the new secret is journaled
        "started_at": "<ISO>", "host": "...", "pid": 123,
        "revoke_old": true, "grace_s": 3600.0,
        "create_attempts": ["<ISO>", ...],       # create POSTs sent, answer not journaled
        "old": null | {"user_id", "client_id", "client_secret", "created_at", "auth_url"},
        "pending": null | {...the same keys, for the new client}
      },
      "previous": null | {"user_id", "client_id", "client_secret", "created_at", "auth_url",
                          "rotation_id", "revoke_after": "<ISO>" | null},
      "created_client_ids": [...],               # clients this profile created, newest last
      "orphaned_client_ids": [...],              # lost-create clients found by reconciling
      "manual_revoke_client_ids": [...]          # clients the user must revoke by hand
    }

Writes, each atomic and fsynced: ``planned`` (with the credentials being replaced) before the
create POST; ``created`` (the new secret) before any other call; the store (the switch);
the journal closed (with ``previous``, or after the old client's revocation). Each step
first checks whether its post-condition already holds (the AWS rotation template's pattern,
reference §1.6), so a run killed at any instant is finished by the next one without a
further create, and the store always holds a credential that mints.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from . import _log
from ._api import ClientInfo
from ._config import Settings
from ._errors import (
    CredentialFileError,
    CredentialsRejected,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    SpatiafiOpsError,
    UnexpectedResponse,
)
from ._models import AppCredentials, format_timestamp, parse_timestamp
from ._store import (
    ProfilePaths,
    Store,
    credentials_from_json,
    credentials_to_json,
    read_private_json,
    write_private_json,
)
from ._token_cache import TokenCache

log = _log.get_logger(__name__)

Kind = Literal["rotate", "replace", "create"]
Phase = Literal["planned", "created"]

STATE_VERSION = 1
HISTORY_LIMIT = 100
# A listed client counts as a lost create of ours only if the service dates it within the
# attempts' window, widened by this much for clock skew between us and the service.
ORPHAN_CLOCK_SLACK = 300.0
CRASH_ENV = "SPATIAFI_OPS_CRASH_AT"
# In order of a rotation: journal written / create answered / secret journaled / new client
# verified / store switched / before and after the old client's DELETE.
CRASH_POINTS = ("planned", "created", "journaled", "verified", "switched", "revoking", "revoked")


def crash_point(step: str) -> None:
    """
    Kill this process with SIGKILL at *step* when ``SPATIAFI_OPS_CRASH_AT`` names it.

    A test hook (tests/e2e/test_rotation_crash.py): SIGKILL cannot be caught or cleaned
    up after, so the next run sees what an OOM kill leaves (fsync covers power cuts).
    """
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


class Service(Protocol):
    """
    The remote calls a rotation makes; ``_provisioning`` implements them over HTTP.
    """

    def login(self) -> None:
        """
        Make sure the user routes can be used (a user token is at hand).
        """

    def create(self) -> AppCredentials:
        """
        Create a client (never retried once the request may have been processed).
        """

    def reconcile_listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        """
        List the user's clients (``None`` if unsupported) and the ids this process created.
        """

    def delete(self, client_id: str) -> bool | None:
        """
        Revoke a client: True, False when already gone, ``None`` when unsupported.
        """

    def verify(self, credentials: AppCredentials) -> None:
        """
        Mint a token with *credentials*, retrying a rejection while it may propagate.
        """


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


def _epoch(value: object) -> float | None:
    """
    Return a listed ``created_at`` (epoch number or ISO text) as epoch seconds, if it is one.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return parse_timestamp(value)
        except ValueError:
            return None
    return None


def profile_client_ids(config_dir: Path) -> set[str]:
    """
    Return the client ids that any profile under *config_dir* stores or journals.

    Best effort: an unreadable profile is skipped (reconciling must never revoke a client
    that a profile holds, so it also keeps unattributable clients, see ``Rotator``).
    """
    ids: set[str] = set()
    directories = [config_dir]
    profiles = config_dir / "profiles"
    if profiles.is_dir():
        directories += [entry for entry in profiles.iterdir() if entry.is_dir()]
    for directory in directories:
        paths = ProfilePaths(directory.name, directory)
        for path in (paths.credentials, paths.legacy):
            with contextlib.suppress(SpatiafiOpsError, OSError):
                if path.is_file():
                    data = read_private_json(path, allow_insecure=True)
                    if isinstance(data, dict) and isinstance(data.get("client_id"), str):
                        ids.add(data["client_id"])
        with contextlib.suppress(SpatiafiOpsError, OSError):
            ids |= RotationState.load(paths, allow_insecure=True).known_client_ids()
    return ids


@dataclass
class Report:
    """
    What a run did besides switching: revoked, orphaned and hand-revoke client ids, warnings.
    """

    revoked: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Rotator:
    """
    Drives one profile's journal to its end; the caller holds the profile lock.
    """

    def __init__(self, store: Store, service: Service, settings: Settings) -> None:
        self.store = store
        self.service = service
        self.settings = settings
        self.state = RotationState.load(
            store.paths, allow_insecure=settings.allow_insecure_permissions
        )
        self.report = Report()
        self._unsaved = False

    def save(self) -> None:
        """
        Write the state atomically (temp file, fsync, rename, fsync of the directory).
        """
        write_private_json(self.store.paths.state, self.state.to_json())
        self._unsaved = False

    def finish(self, *, revoke_old: bool) -> None:
        """
        Revoke a previous client whose grace is over (if asked), then write what is unsaved.
        """
        if revoke_old:
            self.revoke_previous_if_due()
        if self._unsaved:
            self.save()

    def begin(
        self, kind: Kind, old: AppCredentials | None, *, revoke_old: bool, grace: float
    ) -> Journal:
        """
        Start a rotation in memory; its first write is the journal of the create attempt.
        """
        journal = Journal(
            rotation_id=str(uuid.uuid4()),
            kind=kind,
            phase="planned",
            started_at=time.time(),
            old=old,
            revoke_old=revoke_old,
            grace=grace,
        )
        self.state.rotation = journal
        return journal

    def run(self, journal: Journal) -> AppCredentials:
        """
        Take *journal* from its phase through the switch; return the new current credentials.

        The caller ends the run with ``finish()``, whose write closes the journal.
        """
        log.debug("rotation_resumed", rotation_id=journal.rotation_id, phase=journal.phase)
        if journal.phase == "planned":
            self._create(journal)
        pending = journal.pending
        assert pending is not None  # "created" journals the new credentials
        current = self.store.read()
        if current is None or current.client_id != pending.client_id:
            self._verify(journal)  # SPEC §5 step 3: never switch to an unproven secret
            crash_point("verified")
            if current is not None and current.client_id != journal.old_client_id:
                self.store.backup(current)  # not the one we journaled: keep it too
            self.store.write(pending)  # SPEC §5 step 4: the atomic switch
            crash_point("switched")
        self._retire(journal)
        self.state.rotation = None
        self._unsaved = True
        log.debug("rotation_switched", rotation_id=journal.rotation_id, client_id=pending.client_id)
        return pending

    # create

    def _create(self, journal: Journal) -> None:
        if journal.create_attempts:
            # SPEC §5: a create whose answer we never journaled is reconciled, not re-POSTed.
            self._reconcile(journal)
            journal.create_attempts = []
        for round_ in (1, 2):
            try:
                self.service.login()  # a failed login is no ambiguous create: nothing sent
            except SpatiafiOpsError:
                if not journal.create_attempts and journal.phase == "planned":
                    self.state.rotation = None
                raise
            journal.create_attempts.append(time.time())
            self.save()  # SPEC §5: the journal reaches disk before the remote write
            crash_point("planned")
            try:
                created = self.service.create()
            except (ServiceUnavailable, UnexpectedResponse) as exc:
                # The request may have been processed: reconcile, then try once more.
                if round_ == 1 and self._reconcile(journal):
                    journal.create_attempts = []
                    continue
                self.save()
                raise type(exc)(
                    f"{exc}; the create request may have created a client, so it was not "
                    "repeated blindly: the next run reconciles and finishes the rotation",
                    status=exc.status,
                    url=exc.url,
                ) from None
            except (CredentialsRejected, RequestRejected):
                # Refused outright: nothing was created, so nothing is left to resume.
                self.state.rotation = None
                self.save()
                raise
            crash_point("created")
            journal.pending = created._replace(
                created_at=time.time(), auth_url=self.settings.auth_url
            )
            journal.phase = "created"
            journal.create_attempts = []
            self.state.created_client_ids.append(created.client_id)
            self.save()  # SPEC §5: the one-time secret is on disk before any other call
            crash_point("journaled")
            return

    def _reconcile(self, journal: Journal) -> bool:
        """
        Find and revoke clients that lost create answers made; return False if we cannot list.
        """
        attempts = journal.create_attempts
        listed, created_here = self.service.reconcile_listing()
        if listed is None:
            when = ", ".join(format_timestamp(t) for t in attempts)
            self._warn(
                "create_unreconciled",
                f"a create request sent at {when} may have created a client that this "
                "service cannot list; revoke clients you do not recognise by hand",
            )
            return False
        known = created_here | self.state.known_client_ids()
        known |= profile_client_ids(self.settings.resolved_config_dir())
        low = min(attempts) - ORPHAN_CLOCK_SLACK
        high = max(attempts) + self.settings.timeout + ORPHAN_CLOCK_SLACK
        candidates = []
        for client in listed:
            when_created = _epoch(client.created_at)
            in_window = when_created is None or low <= when_created <= high
            if client.client_id not in known and in_window:
                candidates.append(client.client_id)
        journal.create_attempts = []
        if len(candidates) > len(attempts):
            # More unknown clients than lost answers: some are not ours; revoke none.
            self.state.orphaned_client_ids += candidates
            self.report.orphaned += candidates
            self._warn(
                "orphans_unattributed",
                f"{len(candidates)} unknown clients appeared around a lost create answer; "
                f"revoke by hand those that are not in use: {', '.join(candidates)}",
            )
            return True
        for client_id in candidates:
            self.state.orphaned_client_ids.append(client_id)
            self.report.orphaned.append(client_id)
            self._revoke(client_id)
            log.warning("orphan_found", client_id=client_id, rotation_id=journal.rotation_id)
        return True

    # verify and switch

    def _verify(self, journal: Journal) -> None:
        assert journal.pending is not None
        try:
            self.service.verify(journal.pending)
        except CredentialsRejected:
            # Verify before switch: the current credential stays; the new one is useless.
            new_id = journal.pending.client_id
            self.state.orphaned_client_ids.append(new_id)
            self.report.orphaned.append(new_id)
            self.state.rotation = None
            self.save()
            try:
                self._revoke(new_id)
            except ServiceError:
                self._warn("orphan_not_revoked", f"revoke client {new_id} by hand")
            raise CredentialsRejected(
                f"the new client {new_id} was created but the service kept rejecting it; it "
                f"was discarded and profile {self.store.profile!r} keeps its current "
                "credential: try again later"
            ) from None

    def _retire(self, journal: Journal) -> None:
        """
        Keep the replaced credentials: as ``previous`` (a rotation) or in a backup file.
        """
        old = journal.old
        if old is None:
            return
        # SPEC §6: tokens minted with the old secret are never served for the new one.
        TokenCache(self.settings.resolved_cache_dir()).discard(self.settings.auth_url, old)
        if journal.kind == "rotate":
            revoke_after = time.time() + journal.grace if journal.revoke_old else None
            self.state.previous = Previous(old, journal.rotation_id, revoke_after)
        else:
            self.store.backup(old)

    # revoke

    def revoke_previous_if_due(self, *, now: float | None = None) -> None:
        """
        Revoke the previous client once its grace period has passed (SPEC §5 step 5).
        """
        previous = self.state.previous
        now = time.time() if now is None else now
        if previous is None or previous.revoke_after is None or now < previous.revoke_after:
            return
        crash_point("revoking")
        self._revoke(previous.credentials.client_id, keep=previous.credentials)
        crash_point("revoked")
        self.state.previous = None
        self.save()

    def drop_kept_previous(self) -> None:
        """
        Move a ``--keep-old`` previous into a backup before a new rotation replaces it.
        """
        previous = self.state.previous
        if previous is None or previous.revoke_after is not None:
            return
        self.store.backup(previous.credentials)
        client_id = previous.credentials.client_id
        self.state.manual_revoke_client_ids.append(client_id)
        self.report.manual.append(client_id)
        self.state.previous = None
        self._warn(
            "previous_client_kept",
            f"client {client_id} was kept (--keep-old) and is still valid; it is in the "
            "profile's backups: revoke it by hand once nothing uses it",
        )

    def _revoke(self, client_id: str, *, keep: AppCredentials | None = None) -> None:
        revoked = self.service.delete(client_id)
        if revoked is None:
            if keep is not None:
                self.store.backup(keep)  # still valid at the service: nothing is lost
            self.state.manual_revoke_client_ids.append(client_id)
            self.report.manual.append(client_id)
            self._warn(
                "revoke_unsupported",
                f"the service cannot delete clients; revoke client {client_id} by hand",
            )
            return
        self.report.revoked.append(client_id)
        if keep is not None:
            TokenCache(self.settings.resolved_cache_dir()).discard(self.settings.auth_url, keep)
        log.debug("client_revoked", client_id=client_id, existed=revoked)

    def _warn(self, event: str, message: str) -> None:
        self.report.warnings.append(message)
        log.warning(event, profile=self.store.profile, detail=message)


def describe_journal(journal: Journal) -> list[str]:
    """
    Return the steps that resuming *journal* would take, for ``--dry-run`` (no secrets).
    """
    steps = []
    if journal.phase == "planned":
        if journal.create_attempts:
            steps.append("reconcile a create whose answer was lost (list clients, revoke orphans)")
        steps.append("create a new client and journal its secret")
    new = journal.pending.client_id if journal.pending else "the new client"
    steps.append(f"verify {new} by minting a token, unless it is already current")
    old = journal.old_client_id
    steps.append(f"switch: {new} becomes current" + (f", {old} previous" if old else ""))
    return steps
