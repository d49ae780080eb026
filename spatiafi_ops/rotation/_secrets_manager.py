"""
AWS Secrets Manager as a profile's store and journal (``--store aws-secretsmanager:ID``).

The secret's versions are the journal and its staging labels the state (docs/aws-rotation.md)::

    AWSCURRENT        the credentials consumers read, with the change that made them
    AWSPENDING        a new client, written before anything else is done with it
                      (version id = the rotation id)
    AWSPREVIOUS       the client AWSCURRENT replaced, valid until its grace is over
    SPATIAFI_PLANNED  a create request in flight: its journal, no credentials

The one switch is ``UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId=new,
RemoveFromVersionId=the version the run started from)``, which fails unless AWSCURRENT is
still there (UpdateSecretVersionStage in the AWS Secrets Manager API reference): a
compare-and-swap, so replicas on many machines need no shared lock. A version is never
rewritten (PutSecretValue with a known ClientRequestToken is a no-op); labels move.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
import uuid
import weakref
from typing import Any, NamedTuple

from .. import _log
from .._config import Settings
from .._errors import CredentialFileError, SwitchLost
from .._models import AppCredentials, format_timestamp, parse_timestamp
from ..credentials._credfile import credentials_to_json
from ..credentials._store import Store
from ._secret_versions import (
    CURRENT,
    PENDING,
    PLANNED,
    PREFIX,
    PREVIOUS,
    Labels,
    SecretVersions,
    Version,
)
from ._state import KINDS, Journal, Kind, Previous, RotationState

log = _log.get_logger(__name__)

FORMAT = 1
# A planned create whose writer we cannot see (another machine) is taken over once it is
# this much past its writer's deadline.
TAKEOVER_SLACK = 60.0
_LIVE_RUNS: set[str] = set()
_PLANNED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "planned.secretstore.spatiafi-ops")


class SecretPaths(NamedTuple):
    """
    Where errors say the credentials and the journal are: both in the secret.
    """

    credentials: str
    state: str


def store_secret_id(spec: str) -> str:
    """
    Return the secret id of a ``--store`` spec (checked by its setting's parser).
    """
    return spec.strip().removeprefix(PREFIX)


def planned_version_id(rotation_id: str, attempts: int) -> str:
    """
    Return the version id of a planned create's journal: the same for a retried write.
    """
    return str(uuid.uuid5(_PLANNED_NAMESPACE, f"{rotation_id}/{attempts}"))


class SecretsManagerStore(SecretVersions):
    """
    One profile kept in one secret: the engine's ``CredentialStore`` for AWS.
    """

    def __init__(self, secret_id: str, settings: Settings) -> None:
        super().__init__(
            secret_id,
            budget=settings.deadline,
            allow_cleartext=settings.allow_insecure_transport,
        )
        self.settings = settings
        # The AWSCURRENT version this run started from (the swap's expected value), the
        # version holding our pending client, and the AWSPREVIOUS version we journal.
        self.base: str | None = None
        self.pending_version: str | None = None
        self.previous_version: str | None = None
        self.planned_version: str | None = None
        self.stale_pending: str | None = None
        self.stale_client: str | None = None
        # Names this run in its planned creates: a run of this process that is over (its
        # store collected) left them, a live one (another thread) did not.
        self.run_id = uuid.uuid4().hex
        _LIVE_RUNS.add(self.run_id)
        weakref.finalize(self, _LIVE_RUNS.discard, self.run_id)

    @property
    def profile(self) -> str:
        return self.settings.profile

    # -- the CredentialStore seam -------------------------------------------------------

    def current(self) -> AppCredentials | None:
        """
        Return the credentials of AWSCURRENT (``None``: no secret, or a first create's
        journal only).
        """
        labels = self.labels()
        vid = labels.holder(CURRENT) if labels is not None else None
        found = self.version(vid) if vid is not None else None
        return found.credentials if found is not None else None

    def read(self) -> AppCredentials | None:
        """
        Return the current credentials (the file store's name, which the verbs use).
        """
        return self.current()

    @property
    def paths(self) -> SecretPaths:
        return SecretPaths(self.target, self.target)

    def require(self) -> AppCredentials:
        found = self.current()
        if found is None:
            raise CredentialFileError(
                f"{self.target} holds no credentials; create them with 'spatiafi-ops --store "
                f"{self.target} credentials create'",
                path=self.target,
            )
        return found

    def load_journal(self) -> RotationState:
        """
        Read the journal from the labels: the previous client from AWSPREVIOUS, an
        unfinished change from AWSPENDING or SPATIAFI_PLANNED, a pending client that can
        never become current (its base is no longer AWSCURRENT) for revocation.
        """
        state = RotationState()
        labels = self.labels()
        if labels is None:
            return state
        self.base = labels.holder(CURRENT)
        current = self.version(self.base) if self.base is not None else None
        if current is not None and current.credentials is None:
            # A first create's journal became AWSCURRENT (every first version does).
            if self._abandoned(current.change):
                state.rotation = self._planned_journal(current, None)
            return state
        old = current.credentials if current is not None else None
        state.exclusive_account = current is not None and bool(
            current.change.get("exclusive_account")
        )
        state.previous = self._previous(labels, current)
        pending_vid = labels.holder(PENDING)
        if pending_vid is not None and pending_vid != self.base:
            pending = self.version(pending_vid)
            if pending is not None and pending.credentials is not None:
                if pending.change.get("based_on") == self.base:
                    state.rotation = self._created_journal(pending, old)
                    self.pending_version = pending_vid
                elif self._abandoned(pending.change):
                    # Its swap can only fail now and its writer is gone: the client is
                    # provably ours and useless. (A live writer loses the swap and revokes
                    # it itself: revoking it here would fail that run's verification.)
                    state.revoking.append(pending.credentials.client_id)
                    state.created_client_ids.append(pending.credentials.client_id)
                    self.stale_pending = pending_vid
                    self.stale_client = pending.credentials.client_id
        planned_vid = labels.holder(PLANNED)
        if state.rotation is None and planned_vid is not None:
            planned = self.version(planned_vid)
            if planned is not None and self._abandoned(planned.change):
                state.rotation = self._planned_journal(planned, old)
        return state

    def busy(self) -> str | None:
        """
        Return who is creating a client for this secret now (a live planned create of
        another run), else ``None``: a hint that saves a wasted create, never a lock.
        """
        labels = self.labels()
        planned_vid = labels.holder(PLANNED) if labels is not None else None
        if planned_vid is None and labels is not None:
            planned_vid = labels.holder(CURRENT)  # a first create's journal, maybe
        if planned_vid is None or planned_vid in self.written:
            return None
        planned = self.version(planned_vid)
        if planned is None or planned.credentials is not None or self._abandoned(planned.change):
            return None
        change = planned.change
        return f"{change.get('host', '?')} (pid {change.get('pid', '?')})"

    def _abandoned(self, change: dict[str, Any]) -> bool:
        """
        Return whether the run that wrote a planned create is gone: a dead process of this
        host, or a run past its deadline.
        """
        try:
            expires = parse_timestamp(str(change.get("expires_at")))
        except (ValueError, OverflowError):
            return True
        if change.get("host") == socket.gethostname() and isinstance(change.get("pid"), int):
            if change["pid"] == os.getpid():
                return change.get("run") not in _LIVE_RUNS
            return not _process_alive(change["pid"])
        return time.time() > expires + TAKEOVER_SLACK

    def _previous(self, labels: Labels, current: Version | None) -> Previous | None:
        vid = labels.holder(PREVIOUS)
        if current is None or vid is None or vid == self.base:
            return None
        replaced = current.change.get("replaces")
        found = self.version(vid)
        if found is None or found.credentials is None or replaced is None:
            return None
        self.previous_version = vid
        if found.credentials.client_id != replaced or not current.change.get("revoke_replaced"):
            # Not the client our change replaced (moved by hand?): never ours to revoke.
            return Previous(found.credentials, None, None)
        written = parse_timestamp(str(current.change["written_at"]))
        grace = float(current.change.get("grace_s", 0.0))
        return Previous(found.credentials, current.change.get("rotation_id"), written + grace)

    def _created_journal(self, pending: Version, old: AppCredentials | None) -> Journal:
        change = pending.change
        return Journal(
            rotation_id=pending.version_id,
            kind=_kind(change),
            phase="created",
            started_at=time.time(),
            old=old,
            revoke_old=bool(change.get("revoke_replaced", True)),
            grace=float(change.get("grace_s", 0.0)),
            pending=pending.credentials,
        )

    def _planned_journal(self, planned: Version, old: AppCredentials | None) -> Journal:
        change = planned.change
        journal = Journal(
            rotation_id=str(change.get("rotation_id") or uuid.uuid4()),
            kind=_kind(change),
            phase="planned",
            started_at=time.time(),
            old=old,
            revoke_old=bool(change.get("revoke_replaced", True)),
            grace=float(change.get("grace_s", 0.0)),
            create_attempts=[parse_timestamp(t) for t in change.get("create_attempts", [])],
        )
        self.written.add(planned.version_id)  # ours to clear once the create is journaled
        self.planned_version = planned.version_id
        return journal

    def save_journal(self, state: RotationState) -> None:
        """
        Write what changed: a planned create, a created client (AWSPENDING), the labels
        of a closed change. ``revoking`` needs no record: the labels say what to revoke.
        """
        journal = state.rotation
        if journal is not None and journal.phase == "planned" and journal.create_attempts:
            vid = planned_version_id(journal.rotation_id, len(journal.create_attempts))
            change = {**self._planned_change(journal), "exclusive_account": state.exclusive_account}
            self.put(vid, {"rotation": change}, PLANNED)
            self.planned_version = vid
        elif journal is not None and journal.phase == "created":
            assert journal.pending is not None
            if self.pending_version != journal.rotation_id:
                document = {
                    "profile": self.profile,
                    **credentials_to_json(journal.pending),
                    "previous_client_id": journal.old_client_id,
                    "rotation": {
                        **self._created_change(journal),
                        "exclusive_account": state.exclusive_account,
                    },
                }
                self.put(journal.rotation_id, document, PENDING)
                self.pending_version = journal.rotation_id
            self._clear(PLANNED, "planned_version")
        elif journal is None:
            self._clear(PLANNED, "planned_version")
            self._clear(PENDING, "pending_version")
        if self.stale_client not in state.revoking:
            self._clear(PENDING, "stale_pending")  # its client revoked: the label goes last
        if state.previous is None:
            self._clear(PREVIOUS, "previous_version")

    def _clear(self, label: str, attribute: str) -> None:
        vid = getattr(self, attribute)
        if vid is not None:
            self.move_label(label, to=None, away_from=vid)
            setattr(self, attribute, None)

    def _planned_change(self, journal: Journal) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "phase": "planned",
            "rotation_id": journal.rotation_id,
            "kind": journal.kind,
            "based_on": self.base,
            "revoke_replaced": journal.revoke_old,
            "grace_s": journal.grace,
            "create_attempts": [format_timestamp(t) for t in journal.create_attempts],
            **self._writer(),
        }

    def _writer(self) -> dict[str, Any]:
        """
        Return who writes a version and until when it may still act on it (``_abandoned``).
        """
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "run": self.run_id,
            "expires_at": format_timestamp(time.time() + self.settings.deadline),
        }

    def _created_change(self, journal: Journal) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "rotation_id": journal.rotation_id,
            "kind": journal.kind,
            "based_on": self.base,
            "replaces": journal.old_client_id,
            "revoke_replaced": journal.revoke_old,
            "grace_s": journal.grace if math.isfinite(journal.grace) else 0.0,
            "written_at": format_timestamp(time.time()),
            **self._writer(),
        }

    def switch(self, new: AppCredentials, *, replacing: AppCredentials | None) -> None:
        """
        Move AWSCURRENT to the pending version, only from the version the run started
        from; AWS moves AWSPREVIOUS to that one.

        Raises:
            SwitchLost: when another run switched first (ours was never current).
        """
        vid = self.pending_version
        assert vid is not None, "the pending version is written before the switch"
        base = self.base
        if base is None:
            # A first create: its first write became AWSCURRENT (every first version does).
            labels = self.labels()
            holder = labels.holder(CURRENT) if labels is not None else None
            if holder is not None and holder in self.written:
                base = holder
        if self.move_label(CURRENT, to=vid, away_from=base):
            self.previous_version = base
            if replacing is None and base is not None:
                # A first create replaced its own journal, which AWS made AWSPREVIOUS.
                self._clear(PREVIOUS, "previous_version")
            log.debug("store_switched", target=self.target, version=vid)
            return
        now = self.current()
        raise SwitchLost(
            f"{self.target} was switched by another replica first; client {new.client_id} "
            "was never current",
            current_client_id=now.client_id if now is not None else None,
        )

    def keep(self, credentials: AppCredentials) -> None:
        """
        Nothing to do: the replaced credentials stay readable in their own version.
        """
        log.debug("store_kept", target=self.target, client_id=credentials.client_id)

    def holders(self, client_id: str) -> frozenset[str]:
        """
        Return the labels that still hold *client_id* and forbid its revocation, read now:
        AWSCURRENT, a pending client that may still switch, or an AWSPREVIOUS that the
        current version does not say it replaced.
        """
        labels = self.labels()
        if labels is None:
            return frozenset()
        current_vid = labels.holder(CURRENT)
        current = self.version(current_vid) if current_vid is not None else None
        held = set()
        if current is not None and current.credentials is not None:
            if current.credentials.client_id == client_id:
                held.add(f"{self.target} {CURRENT}")
            previous_vid = labels.holder(PREVIOUS)
            previous = self.version(previous_vid) if previous_vid is not None else None
            if (
                previous is not None
                and previous.credentials is not None
                and previous.credentials.client_id == client_id
                and current.change.get("replaces") != client_id
            ):
                held.add(f"{self.target} {PREVIOUS}")
        pending_vid = labels.holder(PENDING)
        if pending_vid is not None and pending_vid != current_vid:
            pending = self.version(pending_vid)
            if (
                pending is not None
                and pending.credentials is not None
                and pending.credentials.client_id == client_id
                and pending.change.get("based_on") == current_vid
            ):
                held.add(f"{self.target} {PENDING}")
        return frozenset(held)

    def claimed_client_ids(self) -> frozenset[str]:
        """
        Return the clients the labelled versions hold (reconciliation never takes them).
        """
        labels = self.labels()
        if labels is None:
            return frozenset()
        ids = set()
        for label in (CURRENT, PENDING, PREVIOUS):
            vid = labels.holder(label)
            found = self.version(vid) if vid is not None else None
            if found is not None and found.credentials is not None:
                ids.add(found.credentials.client_id)
        return frozenset(ids)


def _kind(change: dict[str, Any]) -> Kind:
    kind = change.get("kind")
    return next((known for known in KINDS if known == kind), "rotate")


def _process_alive(pid: int) -> bool:
    """
    Return whether process *pid* of this host still runs (a zombie counts as gone).
    """
    if sys.platform == "win32":
        return True  # no cheap probe: the deadline decides
    else:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                return stat.read().split(b") ", 1)[-1][:1] != b"Z"
        except OSError:
            return True


# What the verbs take: the config directory's profile, or a secret.
ProfileStore = Store | SecretsManagerStore
