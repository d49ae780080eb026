"""
The rotation: a resumable create → journal → verify → switch → grace → revoke (SPEC §5).

Writes, each atomic and fsynced: ``planned`` (with the credentials being replaced) before the
create POST; ``created`` (the new secret) before any other call; the store (the switch);
the journal closed (with ``previous``, or after the old client's revocation). Each step
first checks whether its post-condition already holds (the AWS rotation template's pattern,
reference §1.6), so a run killed at any instant is finished by the next one without a
further create, and the store always holds a credential that mints.

The journal's format is in ``_journal``; the remote calls are a ``_remote.Service``.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import _log
from ._config import Settings
from ._errors import (
    CredentialsRejected,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    SpatiafiOpsError,
    UnexpectedResponse,
)
from ._journal import Journal, Kind, Previous, RotationState, profile_client_ids
from ._models import AppCredentials, format_timestamp
from ._remote import Service, orphan_candidates
from ._store import Store, stored_client_ids, write_private_json
from ._token_cache import TokenCache

log = _log.get_logger(__name__)

# A create whose answer is lost is reconciled and tried again, this many times in all,
# within the deadline, before the run gives up and leaves the rest to the next run.
CREATE_ROUNDS = 8
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

    def __init__(
        self,
        store: Store,
        service: Service,
        settings: Settings,
        holders: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.settings = settings
        # client id -> profile storing it; a fleet run reads every profile once, not per
        # profile (None: read when needed).
        self._holders = holders
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
        for round_ in range(1, CREATE_ROUNDS + 1):
            try:
                self.service.login()  # a failed login is no ambiguous create: nothing sent
            except SpatiafiOpsError:
                if not journal.create_attempts and journal.phase == "planned":
                    self.state.rotation = None
                raise
            if journal.clients_before is None:
                listed, _ = self.service.reconcile_listing()
                if listed is not None:
                    # What exists before we create cannot be ours (another machine's, say).
                    journal.clients_before = [client.client_id for client in listed]
            journal.create_attempts.append(time.time())
            self.save()  # SPEC §5: the journal reaches disk before the remote write
            crash_point("planned")
            try:
                created = self.service.create()
            except (ServiceUnavailable, UnexpectedResponse) as exc:
                # The request may have been processed: reconcile, then try again.
                if round_ < CREATE_ROUNDS and self._reconcile(journal):
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
        known = created_here | self.state.known_client_ids() | set(journal.clients_before or ())
        known |= profile_client_ids(self.settings.resolved_config_dir())
        candidates = orphan_candidates(listed, known, attempts, self.settings.timeout)
        journal.create_attempts = []
        if len(candidates) > len(attempts):
            # More unknown clients than lost answers: some are not ours; revoke none.
            self._orphaned(*candidates)
            self._warn(
                "orphans_unattributed",
                f"{len(candidates)} unknown clients appeared around a lost create answer; "
                f"revoke by hand those that are not in use: {', '.join(candidates)}",
            )
            return True
        for client_id in candidates:
            self._orphaned(client_id)
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
            self._orphaned(new_id)
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
        client_id = previous.credentials.client_id
        holders = self._holders
        if holders is None:
            holders = stored_client_ids(self.settings.resolved_config_dir())
        if holders.get(client_id, self.store.profile) != self.store.profile:
            # Another profile holds the same client (a copied file): never cut it off.
            self.store.backup(previous.credentials)
            self._manual(client_id)
            self.state.previous = None
            self._warn(
                "previous_client_shared",
                f"client {client_id} is still stored by another profile; it was not revoked",
            )
            self.save()
            return
        crash_point("revoking")
        try:
            self._revoke(client_id, keep=previous.credentials)
        except ServiceError as exc:
            # The switch is done and durable; the revocation waits for a later run.
            self._warn("previous_revoke_deferred", f"revoking client {client_id} failed: {exc}")
            self.save()
            return
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
        self._manual(client_id)
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
            self._manual(client_id)
            self._warn(
                "revoke_unsupported",
                f"the service cannot delete clients; revoke client {client_id} by hand",
            )
            return
        self.report.revoked.append(client_id)
        if keep is not None:
            TokenCache(self.settings.resolved_cache_dir()).discard(self.settings.auth_url, keep)
        log.debug("client_revoked", client_id=client_id, existed=revoked)

    def _orphaned(self, *client_ids: str) -> None:
        """
        Record *client_ids* as orphaned, in the state and the report.
        """
        self.state.orphaned_client_ids += client_ids
        self.report.orphaned += client_ids

    def _manual(self, client_id: str) -> None:
        """
        Record *client_id* for revocation by hand, in the state and the report.
        """
        self.state.manual_revoke_client_ids.append(client_id)
        self.report.manual.append(client_id)

    def _warn(self, event: str, message: str) -> None:
        self.report.warnings.append(message)
        log.warning(event, profile=self.store.profile, detail=message)
