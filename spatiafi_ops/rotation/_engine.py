"""
The engine: one profile's journal driven through create → verify → switch → retire → revoke.

Writes, each atomic and fsynced: ``planned`` (with the credentials being replaced) before the
create POST; ``created`` (the new secret) before any other call; the store (the switch); the
journal closed (with ``previous``, or the old credentials in a backup). Each step first
checks whether its post-condition already holds (the AWS Secrets Manager rotation template's
pattern), so a run killed at any instant is finished by the next one without a further
create, and the store always holds a credential that mints. A run sends one create, or on
an exclusive account a few, each after the last lost answer's client was revoked.

The verbs in ``_verbs`` decide *whether* to change and say so through this class's methods
(``finish``, ``settle``, ``change``, ``revoke_by_hand``, ``drop_pending``, ...); they never
write the journal. Publishing and revoking are collaborators (``Publisher``, ``Revoker``);
every DELETE asks the ownership rule (``_ownership``).
"""

from __future__ import annotations

import time
import uuid

from .. import _log
from .._errors import (
    CredentialsRejected,
    LocalStateError,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    SpatiafiOpsError,
    SwitchLost,
    UnexpectedResponse,
    UnusableClient,
)
from .._http import Deadline
from .._models import AccessToken, AppCredentials, is_client_id
from ..tokens._cache import TokenCache
from ._context import Policy, RunContext
from ._ledger import CRASH_ENV, CRASH_POINTS, Ledger, Report
from ._publisher import Publisher
from ._revoker import Revoker
from ._service import Service
from ._state import Journal, Kind, Previous, RejectedRepair, RotationState
from ._store import CredentialStore

__all__ = ["CRASH_ENV", "CRASH_POINTS", "Engine", "Report"]

log = _log.get_logger(__name__)

# Create requests one run sends at most: more than one only on an exclusive account, after
# the lost answer's client was found and revoked (or provably never made), so a round leaves
# no client behind. The cap only bounds the churn against a service that loses every answer
# (the run's deadline bounds the time): under 30 % transient faults about a quarter of
# creates lose their answer, so 3 rounds failed about 1 run in 60 (make proof) and 8 fail
# about 1 in 65,000.
CREATE_ROUNDS = 8


class Engine:
    """
    Drives one profile's journal to its end; the caller holds the profile lock.
    """

    def __init__(
        self,
        ctx: RunContext,
        policy: Policy,
        store: CredentialStore,
        service: Service,
        deadline: Deadline,
    ) -> None:
        self.settings = ctx.settings
        self.clock = ctx.clock  # the service's clock, measured by this run's answers
        self.policy = policy
        self.store = store
        self.service = service
        self.ledger = Ledger(store)
        self.publisher = Publisher(self.ledger, policy.publish, policy.forget_sinks, deadline)
        self.revoker = Revoker(self.ledger, service, self.settings, self.publisher.missing)
        self.ledger.notice_outside_change()

    # what the verbs read

    @property
    def state(self) -> RotationState:
        """
        The journal as this run holds it (read it; change it through the methods).
        """
        return self.ledger.state

    @property
    def report(self) -> Report:
        return self.ledger.report

    @property
    def resumed_revocations(self) -> bool:
        """
        Whether ``finish()`` completed DELETEs an earlier run had sent.
        """
        return self.revoker.replayed

    # intents

    def finish(self) -> Journal | None:
        """
        Finish what an earlier run left: DELETEs in flight, lost creates, an open journal.

        Returns the journal that was finished, if there was one.
        """
        self.revoker.replay()
        journal = self.state.rotation
        if journal is None:
            return None
        self._run(journal)
        return journal

    def settle(self) -> None:
        """
        Publish the current client to the sinks owed it, revoke the previous client when
        due, and report what lost creates left: the housekeeping of every run.
        """
        try:
            self.publisher.publish()
        finally:
            if self.policy.revoke_old:
                self.revoker.retire_previous()
            self.revoker.reconcile()

    def change(self, kind: Kind, old: AppCredentials | None) -> tuple[Journal, AppCredentials]:
        """
        Make one change from start to end: a previous client still held is set aside, then
        create → verify → switch → publish, and the replaced client revoked when due.

        Returns the journal and the new current credentials.
        """
        previous = self.state.previous
        if previous is not None:
            self._set_aside_previous(
                f"client {previous.credentials.client_id} was still valid (kept, or awaiting "
                "revocation) when it was replaced again; it is in the profile's backups: "
                "revoke it by hand once nothing uses it",
            )
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
        new = self._run(journal)
        self.settle()
        return journal, new

    def revoke_by_hand(self, client_id: str, *, force: bool) -> bool | None:
        """
        Revoke *client_id* because the user named it (``Revoker.by_hand``).
        """
        return self.revoker.by_hand(client_id, force=force)

    def drop_pending(self) -> None:
        """
        Forget the unfinished change (its new client was revoked by hand).
        """
        self.state.rotation = None
        self.ledger.save()

    def declare_exclusive_account(self) -> None:
        """
        Record that no other machine creates clients on this profile's account, so a lost
        create's client may be revoked (docs/many-machines.md).
        """
        if not self.state.exclusive_account:
            self.state.exclusive_account = True
            self.ledger.save()

    # the change

    def _run(self, journal: Journal) -> AppCredentials:
        """
        Take *journal* from its phase to closed; return the new current credentials.
        """
        log.debug("rotation_resumed", rotation_id=journal.rotation_id, phase=journal.phase)
        if journal.phase == "planned":
            self._create(journal)
        pending = journal.pending
        assert pending is not None  # "created" journals the new credentials
        current = self.store.current()
        if current is None or current.client_id != pending.client_id:
            token = self._verify(journal)  # never switch to an unproven secret
            self.ledger.checkpoint("verified")
            if current is not None and current.client_id != journal.old_client_id:
                self.store.keep(current)  # not the one we journaled: keep it too
            try:
                self.store.switch(pending, replacing=current)  # the atomic switch
            except SwitchLost as exc:
                exc.revoked = self._lost(journal)
                raise
            self.ledger.checkpoint("switched")
            self._cache(pending, token)
        self.ledger.held(pending.client_id)
        self.publisher.owe(pending)
        self._retire(journal)
        self.state.rotation = None
        self.state.rejected_repair = None
        self.ledger.save()  # closes the journal
        log.debug("rotation_switched", rotation_id=journal.rotation_id, client_id=pending.client_id)
        return pending

    def create_pending(self, journal: Journal) -> AppCredentials:
        """
        Create *journal*'s client and journal it, and stop there: a rotation function's
        createSecret, whose switch is a later step (``finish`` on the resumed journal).
        """
        self.state.rotation = journal
        if journal.phase == "planned":
            self._create(journal)
        assert journal.pending is not None
        return journal.pending

    def _lost(self, journal: Journal) -> tuple[str, ...]:
        """
        Close a change whose switch another replica won: its new client was never current
        and never can be (the store moved on from the version it replaces). It is revoked
        when the journal proves it this run's own; another run's pending client that this
        run only finished is left to that run, or to a later one once its writer is gone.
        Returns the ids revoked.
        """
        assert journal.pending is not None
        new_id = journal.pending.client_id
        self.state.rotation = None
        self.ledger.save()
        try:
            outcome = self.revoker.revoke(new_id)
        except ServiceError as exc:
            self.ledger.manual(new_id)
            self.ledger.warn("lost_client_not_revoked", f"revoking client {new_id} failed: {exc}")
            return ()
        return (new_id,) if outcome.refused is None else ()

    def _create(self, journal: Journal) -> None:
        state = self.state
        if journal.create_attempts:
            # An earlier run's create whose answer we never journaled: never re-POSTed
            # blindly; its client, if it shows up, is reconciled (now and by later runs).
            state.lost_creates += journal.create_attempts
            journal.create_attempts = []
        self.revoker.reconcile()
        for round_ in range(1, CREATE_ROUNDS + 1):
            try:
                self.service.login()  # a failed login is no ambiguous create: nothing sent
            except SpatiafiOpsError:
                if journal.pending is None and not state.lost_creates:
                    state.rotation = None
                raise
            journal.create_attempts.append(time.time())
            self.ledger.save()  # the journal reaches disk before the remote write
            self.ledger.checkpoint("planned")
            try:
                created = self.service.create()
                break
            except (ServiceUnavailable, UnexpectedResponse) as exc:
                # The request may have been processed: reconciled, and repeated in this run
                # only where the lost client is provably gone (an exclusive account).
                state.lost_creates += journal.create_attempts
                journal.create_attempts = []
                self.ledger.save()
                if self.revoker.reconcile() and round_ < CREATE_ROUNDS:
                    continue
                raise type(exc)(
                    f"{exc}; the create request may have created a client, so it was not "
                    "repeated: the next run reconciles and finishes the change",
                    status=exc.status,
                    url=exc.url,
                ) from None
            except (CredentialsRejected, RequestRejected):
                # Refused outright: nothing was created, so nothing is left to resume.
                state.rotation = None
                self.ledger.save()
                raise
            except UnusableClient as exc:
                raise self._refuse_created(exc) from None
        self.ledger.checkpoint("created")
        if created.client_id in self._ids_in_use():
            # A new client cannot carry an id we already hold: switching to it would
            # keep the old secret, and revoking "the old one" would cut the working one.
            state.rotation = None
            self.ledger.save()
            raise UnexpectedResponse(
                f"the service answered the create with client {created.client_id}, which "
                f"profile {self.store.profile!r} already knows; nothing was switched or "
                "revoked: report this to the service's operators"
            )
        # The service's clock, as its Date headers show it: a local clock that runs fast
        # would stamp a future created_at (docs/files.md).
        journal.pending = created._replace(created_at=self.clock.now(), auth_url=self.settings.url)
        journal.phase = "created"
        journal.create_attempts = []
        state.created_client_ids.append(created.client_id)
        self.ledger.save()  # the one-time secret is on disk before any other call
        self.ledger.checkpoint("journaled")

    def _refuse_created(self, exc: UnusableClient) -> UnusableClient:
        """
        Leave the service as we found it: revoke the client an unusable answer named (as
        the ownership rule allows), and close the change: this run creates nothing more.
        """
        state, client_id = self.state, exc.client_id
        journaled = client_id is not None and is_client_id(client_id)
        state.rotation = None
        if journaled and client_id is not None and client_id not in state.created_client_ids:
            state.created_client_ids.append(client_id)
        self.ledger.save()
        revoked = False
        if client_id is not None:
            try:
                if journaled:
                    proof = state.proof(client_id) or "created"
                    sent = self.revoker.revoke(client_id, proof=proof)
                    # existed None: the service cannot delete; the revoker listed it by hand
                    revoked = sent.refused is None and sent.existed is not None
                else:  # not an id a journal holds: revoked at once, unjournaled
                    revoked = self.service.delete(client_id) is not None
            except ServiceError as err:
                command = (
                    f"run 'spatiafi-ops credentials revoke {client_id}'"
                    if journaled
                    else "revoke it by hand"
                )
                self.ledger.warn(
                    "refused_client_kept",
                    f"revoking client {client_id} failed: {err}; {command} once the service "
                    "answers",
                )
        if revoked:
            outcome = "it was revoked at once and nothing was stored"
        elif journaled:
            outcome = f"it was not revoked: run 'spatiafi-ops credentials revoke {client_id}'"
        elif client_id is not None:
            outcome = f"it was not revoked: revoke client {client_id!r} by hand"
        else:
            outcome = "its id cannot be sent back: revoke it by hand"
        return UnusableClient(f"{exc}; {outcome}", client_id=client_id)

    def _ids_in_use(self) -> set[str]:
        ids = self.state.known_client_ids()
        current = self.store.current()
        if current is not None:
            ids.add(current.client_id)
        return ids

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
            self.ledger.orphaned(new_id)
            self.state.rotation = None
            self.state.rejected_repair = RejectedRepair(new_id, time.time(), exc.error)
            self.ledger.save()
            try:
                self.revoker.revoke(new_id)  # proof: the journal (this run made it)
            except ServiceError:
                self.ledger.manual(new_id)
                self.ledger.warn("orphan_not_revoked", f"revoke client {new_id} by hand")
                self.ledger.save()
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
            self.store.keep(old)  # rejected credentials: kept for the record only
        elif journal.kind == "rotate" or journal.revoke_old:
            revoke_after = time.time() + journal.grace if journal.revoke_old else None
            self.state.previous = Previous(old, journal.rotation_id, revoke_after)
        else:
            self.store.keep(old)
            self.ledger.manual(old.client_id)
            self.ledger.warn(
                "old_client_kept",
                f"client {old.client_id} was replaced but is still valid; it is in the "
                "profile's backups: revoke it once nothing uses it",
            )

    # bookkeeping

    def _set_aside_previous(self, message: str) -> None:
        """
        Move a previous client out of the state into a backup and the hand-revoke list.
        """
        previous = self.state.previous
        if previous is None:
            return
        self.store.keep(previous.credentials)
        self.ledger.manual(previous.credentials.client_id)
        self.state.previous = None
        self.ledger.warn("previous_client_kept", message)
