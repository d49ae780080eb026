"""
The engine: one profile's journal driven through create → verify → switch → retire → revoke.

Writes, each atomic and fsynced: ``planned`` (with the credentials being replaced) before the
create POST; ``created`` (the new secret) before any other call; the store (the switch); the
journal closed (with ``previous``, or the old credentials in a backup). A DELETE is journaled
in ``revoking`` before it is sent. Each step first checks whether its post-condition already
holds (the AWS Secrets Manager rotation template's pattern), so a run killed at any instant
is finished by the next one without a further create, and the store always holds a
credential that mints. The verbs in ``_verbs`` decide *whether* to change; this decides how.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass, field

from .. import _log
from .._errors import (
    CredentialsRejected,
    LocalStateError,
    RequestRejected,
    SecretStoreRefused,
    SecretStoreUnavailable,
    ServiceError,
    ServiceUnavailable,
    SpatiafiOpsError,
    UnexpectedResponse,
)
from .._http import Deadline
from .._models import AccessToken, AppCredentials, Payload, format_timestamp
from ..credentials._store import Store
from ..tokens._cache import TokenCache
from ._context import Policy, RunContext
from ._service import Service, orphan_candidates
from ._state import (
    Journal,
    Kind,
    Previous,
    Published,
    RejectedRepair,
    RotationState,
    profile_client_ids,
)

log = _log.get_logger(__name__)

# A create whose answer is lost is reconciled and tried again, this many times in all,
# within the deadline, before the run gives up and leaves the rest to the next run.
CREATE_ROUNDS = 8
CRASH_ENV = "SPATIAFI_OPS_CRASH_AT"
# In order of a change: journal written / create answered / secret journaled / new client
# verified / store switched / a sink about to be written / a sink written, not yet recorded /
# a DELETE journaled / a DELETE answered.
CRASH_POINTS = (
    "planned",
    "created",
    "journaled",
    "verified",
    "switched",
    "publishing",
    "published",
    "revoking",
    "revoked",
)


def crash_point(step: str) -> None:
    """
    Kill this process at *step* when ``SPATIAFI_OPS_CRASH_AT`` names it (a test hook).

    SIGKILL cannot be caught or cleaned up after, so the next run sees what an OOM kill
    leaves (fsync covers power cuts); Windows has no SIGKILL, and ``os._exit`` is as abrupt.
    """
    if os.environ.get(CRASH_ENV) != step:
        return
    if sys.platform == "win32":
        os._exit(137)
    else:
        import signal

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
    published: list[str] = field(default_factory=list)


class Engine:
    """
    Drives one profile's journal to its end; the caller holds the profile lock.
    """

    def __init__(
        self, ctx: RunContext, policy: Policy, store: Store, service: Service, deadline: Deadline
    ) -> None:
        self.ctx = ctx
        self.deadline = deadline
        self.settings = ctx.settings
        self.policy = policy
        self.store = store
        self.service = service
        self.state = RotationState.load(store.paths)
        self.report = Report()
        # Whether resume() finished DELETEs an earlier run had sent (a result says so).
        self.resumed_revocations = False

    def save(self) -> None:
        """
        Write the state atomically (temp file, fsync, rename, fsync of the directory).
        """
        self.state.save(self.store.paths)

    # -- resuming ---------------------------------------------------------------------

    def resume(self) -> Journal | None:
        """
        Finish what an earlier run left: DELETEs in flight, then an open journal.

        Returns the journal that was finished, if there was one.
        """
        self._finish_revocations()
        journal = self.state.rotation
        if journal is None:
            return None
        self.run(journal)
        return journal

    def _finish_revocations(self) -> None:
        current = self.store.read()
        for client_id in list(self.state.revoking):
            self.resumed_revocations = True
            self.state.revoking.remove(client_id)
            if current is not None and current.client_id == client_id:
                self._warn(
                    "revocation_dropped",
                    f"an interrupted revocation of client {client_id} was not repeated: the "
                    "profile stores it; run 'credentials revoke --force' if that is meant",
                )
                self.save()
                continue
            try:
                self._delete(client_id, keep=None)  # idempotent: "already gone" is done
            except ServiceError as exc:
                # Still journaled in `revoking`: a later run tries again.
                self._warn("revoke_deferred", f"revoking client {client_id} failed: {exc}")

    # -- the change ---------------------------------------------------------------------

    def change(self, kind: Kind, old: AppCredentials | None) -> tuple[Journal, AppCredentials]:
        """
        Make one change from start to end: a previous client still held is set aside, then
        create → verify → switch → publish, and the replaced client revoked when due.

        Returns the journal and the new current credentials.
        """
        previous = self.state.previous
        if previous is not None:
            self.set_aside_previous(
                "previous_client_kept",
                f"client {previous.credentials.client_id} was still valid (kept, or awaiting "
                "revocation) when it was replaced again; it is in the profile's backups: "
                "revoke it by hand once nothing uses it",
            )
        journal = self.begin(kind, old)
        new = self.run(journal)
        self.publish()
        if self.policy.revoke_old:
            self.revoke_previous_if_due()
        return journal, new

    def begin(self, kind: Kind, old: AppCredentials | None) -> Journal:
        """
        Start a change in memory; its first write is the journal of the create attempt.
        """
        journal = Journal(
            rotation_id=str(uuid.uuid4()),
            kind=kind,
            phase="planned",
            started_at=time.time(),
            old=old,
            revoke_old=self.policy.revoke_old,
            grace=self.policy.grace,
        )
        self.state.rotation = journal
        return journal

    def run(self, journal: Journal) -> AppCredentials:
        """
        Take *journal* from its phase to closed; return the new current credentials.
        """
        log.debug("rotation_resumed", rotation_id=journal.rotation_id, phase=journal.phase)
        if journal.phase == "planned":
            self._create(journal)
        pending = journal.pending
        assert pending is not None  # "created" journals the new credentials
        current = self.store.read()
        if current is None or current.client_id != pending.client_id:
            token = self._verify(journal)  # never switch to an unproven secret
            crash_point("verified")
            if current is not None and current.client_id != journal.old_client_id:
                self.store.backup(current)  # not the one we journaled: keep it too
            self.store.write(pending)  # the atomic switch
            crash_point("switched")
            self._cache(pending, token)
        self._retire(journal)
        self.state.rotation = None
        self.state.rejected_repair = None
        self.save()  # closes the journal
        log.debug("rotation_switched", rotation_id=journal.rotation_id, client_id=pending.client_id)
        return pending

    # create

    def _create(self, journal: Journal) -> None:
        if journal.create_attempts:
            # A create whose answer we never journaled is reconciled, never re-POSTed.
            self._reconcile(journal)
            journal.create_attempts = []
        for round_ in range(1, CREATE_ROUNDS + 1):
            try:
                self.service.login()  # a failed login is no ambiguous create: nothing sent
            except SpatiafiOpsError:
                if not journal.create_attempts and journal.pending is None:
                    self.state.rotation = None
                raise
            if journal.clients_before is None:
                listed, _ = self.service.listing()
                if listed is not None:
                    # What exists before we create cannot be ours (another machine's, say).
                    journal.clients_before = [client.client_id for client in listed]
            journal.create_attempts.append(time.time())
            self.save()  # the journal reaches disk before the remote write
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
                    "repeated blindly: the next run reconciles and finishes the change",
                    status=exc.status,
                    url=exc.url,
                ) from None
            except (CredentialsRejected, RequestRejected):
                # Refused outright: nothing was created, so nothing is left to resume.
                self.state.rotation = None
                self.save()
                raise
            crash_point("created")
            if created.client_id in self._ids_in_use(journal):
                # A new client cannot carry an id we already hold: switching to it would
                # keep the old secret, and revoking "the old one" would cut the working one.
                self.state.rotation = None
                self.save()
                raise UnexpectedResponse(
                    f"the service answered the create with client {created.client_id}, which "
                    f"profile {self.store.profile!r} already knows; nothing was switched or "
                    "revoked: report this to the service's operators"
                )
            # The service's clock, as its Date headers show it: a local clock that runs fast
            # would stamp a future created_at (docs/files.md).
            journal.pending = created._replace(
                created_at=self.ctx.clock.now(), auth_url=self.settings.url
            )
            journal.phase = "created"
            journal.create_attempts = []
            journal.clients_before = None  # only a lost answer needs the snapshot
            self.state.created_client_ids.append(created.client_id)
            self.save()  # the one-time secret is on disk before any other call
            crash_point("journaled")
            return

    def _ids_in_use(self, journal: Journal) -> set[str]:
        ids = self.state.known_client_ids() | set(journal.clients_before or ())
        current = self.store.read()
        if current is not None:
            ids.add(current.client_id)
        return ids

    def _reconcile(self, journal: Journal) -> bool:
        """
        Find and revoke clients that lost create answers made; return False if we cannot list.
        """
        attempts = journal.create_attempts
        listed, created_here = self.service.listing()
        if listed is None:
            when = ", ".join(format_timestamp(t) for t in attempts)
            self._warn(
                "create_unreconciled",
                f"a create request sent at {when} may have created a client that this "
                "service cannot list; revoke clients you do not recognise by hand",
            )
            return False
        known = created_here | self._ids_in_use(journal)
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
            self.revoke(client_id)
            log.warning("orphan_found", client_id=client_id, rotation_id=journal.rotation_id)
        return True

    # verify and switch

    def _cache(self, credentials: AppCredentials, token: AccessToken) -> None:
        """
        Keep the token that verification minted: the next consumer needs no mint of its own.
        """
        cache = TokenCache.for_settings(self.settings)
        try:
            cache.save(self.settings.url, credentials, token)
        except LocalStateError as exc:
            log.warning("token_cache_unusable", error=str(exc))

    def _verify(self, journal: Journal) -> AccessToken:
        assert journal.pending is not None
        try:
            return self.service.verify(journal.pending)
        except CredentialsRejected as exc:
            # The current credential stays; the new one is useless, and the next run must
            # not create another one the same way (ClockSkew is not caught: the journal
            # stays, and the next run verifies this same client again).
            new_id = journal.pending.client_id
            self._orphaned(new_id)
            self.state.rotation = None
            self.state.rejected_repair = RejectedRepair(new_id, time.time(), exc.error)
            self.save()
            try:
                self.revoke(new_id)
            except ServiceError:
                self._manual(new_id)
                self._warn("orphan_not_revoked", f"revoke client {new_id} by hand")
                self.save()
            raise CredentialsRejected(
                f"the new client {new_id} was created but the service kept rejecting it; it "
                f"was discarded and profile {self.store.profile!r} keeps its current "
                "credential; no other client will be created until one is accepted "
                "('credentials create --force' tries again)",
                status=exc.status,
                url=exc.url,
                error=exc.error,
            ) from None

    def _retire(self, journal: Journal) -> None:
        """
        Keep the replaced credentials: as ``previous``, in a backup, or for the user.
        """
        old = journal.old
        if old is None:
            return
        # Tokens minted with the old secret are never served for the new one.
        TokenCache.for_settings(self.settings).discard(self.settings.url, old)
        if journal.kind == "repair":
            self.store.backup(old)  # rejected credentials: kept for the record only
        elif journal.kind == "rotate" or journal.revoke_old:
            revoke_after = time.time() + journal.grace if journal.revoke_old else None
            self.state.previous = Previous(old, journal.rotation_id, revoke_after)
        else:
            self.store.backup(old)
            self._manual(old.client_id)
            self._warn(
                "old_client_kept",
                f"client {old.client_id} was replaced but is still valid; it is in the "
                "profile's backups: revoke it once nothing uses it",
            )

    # publish

    def unpublished(self) -> list[str]:
        """
        Return the targets of the policy's sinks that lack the current client.
        """
        current = self.store.read()
        published = self.state.published
        if current is None:
            return []
        have = published.sinks if published and published.client_id == current.client_id else {}
        return [sink.target for sink in self.policy.publish if sink.target not in have]

    def publish(self) -> None:
        """
        Publish the current client to every sink that lacks it, journaling each success;
        raise the first failure once every sink has been tried (the next run resumes).
        """
        missing = set(self.unpublished())
        if not missing:
            return
        current = self.store.require()
        if self.state.published is None or self.state.published.client_id != current.client_id:
            self.state.published = Published(current.client_id)
        published = self.state.published
        previous = self.state.previous
        payload = Payload(
            self.store.profile,
            current,
            previous.credentials.client_id if previous is not None else None,
        )
        failure: SecretStoreUnavailable | SecretStoreRefused | None = None
        for sink in self.policy.publish:
            if sink.target not in missing:
                continue
            crash_point("publishing")
            try:
                sink.publish(payload, timeout=self.deadline.remaining())
            except (SecretStoreUnavailable, SecretStoreRefused) as exc:
                failure = failure or exc
                self._warn("publish_failed", str(exc))
                continue
            crash_point("published")
            published.sinks[sink.target] = time.time()
            self.report.published.append(sink.target)
            self.save()  # each confirmation is on disk before the next sink
        if failure is not None:
            raise failure

    # revoke

    def revoke_previous_if_due(self, *, now: float | None = None) -> None:
        """
        Revoke the previous client once its grace period has passed and every sink has
        the current one (a consumer reading a sink must never be left with a dead client).
        """
        previous = self.state.previous
        now = time.time() if now is None else now
        if previous is None or previous.revoke_after is None or now < previous.revoke_after:
            return
        client_id = previous.credentials.client_id
        waiting = self.unpublished()
        if waiting:
            self._warn(
                "previous_revoke_waiting",
                f"client {client_id} stays valid until every sink has the current client "
                f"(missing: {', '.join(waiting)})",
            )
            return
        holder = self.ctx.holders().get(client_id, self.store.profile)
        if holder != self.store.profile:
            # Another profile holds the same client (a copied file): never cut it off.
            self.set_aside_previous(
                "previous_client_shared",
                f"client {client_id} is still stored by profile {holder!r}; it was not revoked",
            )
            self.save()
            return
        try:
            self._delete(client_id, keep=previous.credentials)  # journaled and saved
        except ServiceError as exc:
            # The switch is done and durable; the revocation waits for a later run.
            self._warn("previous_revoke_deferred", f"revoking client {client_id} failed: {exc}")

    def set_aside_previous(self, event: str, message: str) -> None:
        """
        Move a previous client out of the state into a backup and the hand-revoke list.
        """
        previous = self.state.previous
        if previous is None:
            return
        self.store.backup(previous.credentials)
        self._manual(previous.credentials.client_id)
        self.state.previous = None
        self._warn(event, message)

    def revoke(self, client_id: str, *, allow_current: bool = False) -> bool | None:
        """
        Revoke *client_id*, journaled; never the profile's current client unless allowed.

        Returns what the service said: True, False (already gone), ``None`` (unsupported).
        """
        current = self.store.read()
        if not allow_current and current is not None and current.client_id == client_id:
            self._warn(
                "revocation_refused",
                f"client {client_id} is the profile's current credential; it was not revoked",
            )
            return False
        return self._delete(client_id, keep=None)

    def _delete(self, client_id: str, *, keep: AppCredentials | None) -> bool | None:
        self.state.revoking.append(client_id)
        self.save()  # the journal reaches disk before the remote write
        crash_point("revoking")
        existed = self.service.delete(client_id)
        crash_point("revoked")
        self.state.revoking.remove(client_id)
        previous = self.state.previous
        if previous is not None and previous.credentials.client_id == client_id:
            keep = keep or previous.credentials
            self.state.previous = None
        if existed is None:
            if keep is not None:
                self.store.backup(keep)  # still valid at the service: nothing is lost
            self._manual(client_id)
            self._warn(
                "revoke_unsupported",
                f"the service cannot delete clients; revoke client {client_id} by hand",
            )
        else:
            self.report.revoked.append(client_id)
            if client_id in self.state.manual_revoke_client_ids:
                self.state.manual_revoke_client_ids.remove(client_id)
            log.debug("client_revoked", client_id=client_id, existed=existed)
        if keep is not None:
            TokenCache.for_settings(self.settings).discard(self.settings.url, keep)
        self.save()
        return existed

    # bookkeeping

    def _orphaned(self, *client_ids: str) -> None:
        self.state.orphaned_client_ids += client_ids
        self.report.orphaned += client_ids

    def _manual(self, client_id: str) -> None:
        if client_id not in self.state.manual_revoke_client_ids:
            self.state.manual_revoke_client_ids.append(client_id)
        self.report.manual.append(client_id)

    def _warn(self, event: str, message: str) -> None:
        self.report.warnings.append(message)
        log.warning(event, profile=self.store.profile, detail=message)
