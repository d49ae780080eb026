"""
The one place that sends a DELETE: each asks the ownership rule (``_ownership``) first.

Also the reconciliation of lost creates: a create request whose answer never came may have
made a client. The service gives no marker that ties a listed client to our request, so such
a client is revoked only where the profile declares that no other machine creates clients
on the account (``exclusive_account``); otherwise it is reported as a possible orphan, with
the one command that revokes it, and left live (docs/many-machines.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from .. import _log
from .._config import Settings
from .._errors import CredentialsExist, ServiceError, UnknownClient
from .._models import AppCredentials, format_timestamp
from ..tokens._cache import TokenCache
from ._ledger import Ledger
from ._ownership import Facts, Proof, Refusal, explain, refusal
from ._service import Service, listed_epoch, orphan_candidates

log = _log.get_logger(__name__)

# How long after a lost create's timeout its client may still appear (a server that queued
# the request): until then each run lists the clients once more (docs/many-machines.md).
LATE_CREATE_MARGIN = 60.0


class Revocation(NamedTuple):
    """
    What a revocation came to: refused by the rule, or sent (``existed``: what the service
    said: True, False when already gone, ``None`` when it cannot delete clients).
    """

    refused: Refusal | None
    existed: bool | None = None


class Revoker:
    """
    Revokes clients for one profile run, each only as the ownership rule allows.
    """

    def __init__(
        self,
        ledger: Ledger,
        service: Service,
        settings: Settings,
        owed: Callable[[], list[str]],
    ) -> None:
        self.ledger = ledger
        self.service = service
        self.settings = settings
        self._owed = owed
        # Whether replay() finished DELETEs an earlier run had sent (a result says so).
        self.replayed = False

    def facts(self, client_id: str, proof: Proof | None, *, force: bool = False) -> Facts:
        """
        Gather what the rule decides on, now: every holder, the current client, the sinks.
        """
        store = self.ledger.store
        current = store.current()
        return Facts(
            client_id=client_id,
            proof=proof,
            other_holders=store.holders(client_id) - {store.profile},
            current=current is not None and current.client_id == client_id,
            owed=tuple(self._owed()),
            force=force,
        )

    def revoke(
        self, client_id: str, *, proof: Proof | None = None, force: bool = False
    ) -> Revocation:
        """
        Revoke *client_id* if the rule allows; *proof* defaults to what the journal proves.
        """
        facts = self.facts(client_id, proof or self.ledger.state.proof(client_id), force=force)
        why = refusal(facts)
        if why is not None:
            log.info("revocation_refused", client_id=client_id, rule=why.value)
            return Revocation(why)
        return Revocation(None, self._delete(client_id))

    def explain(self, client_id: str, why: Refusal) -> str:
        facts = self.facts(client_id, self.ledger.state.proof(client_id))
        return explain(facts, why, self.ledger.profile)

    # the previous client

    def retire_previous(self, *, now: float | None = None) -> None:
        """
        Revoke the previous client once its grace period is over and the rule allows.
        """
        state = self.ledger.state
        previous = state.previous
        now = time.time() if now is None else now
        if previous is None or previous.revoke_after is None or now < previous.revoke_after:
            return
        client_id = previous.credentials.client_id
        try:
            outcome = self.revoke(client_id)
        except ServiceError as exc:
            # The switch is done and durable; the revocation waits for a later run.
            self.ledger.warn(
                "previous_revoke_deferred", f"revoking client {client_id} failed: {exc}"
            )
            return
        if outcome.refused is Refusal.CURRENT:
            state.previous = None  # the profile stores it again (a rollback): not previous
            self.ledger.save()
        elif outcome.refused is not None:
            # Kept as the previous client: a later run revokes it once the rule allows.
            self.ledger.warn("previous_client_kept", self.explain(client_id, outcome.refused))

    # interrupted revocations

    def replay(self) -> None:
        """
        Finish the DELETEs an earlier run journaled, each asking the rule again (a copied
        or edited journal can name any client).
        """
        state = self.ledger.state
        for client_id in list(state.revoking):
            self.replayed = True
            state.revoking.remove(client_id)
            try:
                outcome = self.revoke(client_id)
            except ServiceError as exc:
                state.revoking.append(client_id)  # a later run tries again
                self.ledger.warn("revoke_deferred", f"revoking client {client_id} failed: {exc}")
                continue
            if outcome.refused is not None:
                self.ledger.warn(
                    "revocation_dropped",
                    "an interrupted revocation was not repeated: "
                    + self.explain(client_id, outcome.refused),
                )
                self.ledger.save()

    # lost creates

    def reconcile(self) -> bool:
        """
        Look for the clients of create requests whose answers were lost; revoke them where
        the account is declared exclusive, else report them as possible orphans.

        Returns whether no client of a lost create is left valid (then, on an exclusive
        account, another create may be sent).
        """
        state = self.ledger.state
        lost = state.lost_creates
        if not lost:
            return True
        listed, created_here = self.service.listing()
        if listed is None:
            when = ", ".join(format_timestamp(t) for t in lost)
            self.ledger.warn(
                "create_unreconciled",
                f"a create request sent at {when} may have created a client that this "
                "service cannot list; revoke clients you do not recognise by hand",
            )
            state.lost_creates = []
            self.ledger.save()
            return False
        known = created_here | self.ledger.store.claimed_client_ids() | state.known_client_ids()
        candidates = orphan_candidates(listed, known, lost, self.settings.timeout)
        dates = {client.client_id: listed_epoch(client.created_at) for client in listed}
        # One lost request makes one client at most: more candidates cannot all be ours.
        exclusive = state.exclusive_account and len(candidates) <= len(lost)
        settled = exclusive or not candidates
        for client_id in candidates:
            if client_id in state.orphaned_client_ids:
                continue  # reported by an earlier run
            self.ledger.orphaned(client_id)
            if exclusive:
                settled = self._revoke_orphan(client_id) and settled
            else:
                self.ledger.warn(
                    "possible_orphan",
                    f"client {client_id} ({_created(dates.get(client_id))}) appeared around a "
                    "create request whose answer was lost; nothing ties "
                    "it to this profile, so it was left valid: if no other machine uses it, "
                    f"revoke it with 'spatiafi-ops --profile {self.ledger.profile} "
                    f"credentials revoke {client_id}'",
                )
        # A request still in flight after its timeout and this margin is not waited for.
        window = self.settings.timeout + LATE_CREATE_MARGIN
        state.lost_creates = [t for t in lost if time.time() <= t + window]
        self.ledger.save()
        return settled and state.exclusive_account

    def _revoke_orphan(self, client_id: str) -> bool:
        try:
            outcome = self.revoke(client_id, proof="created")
        except ServiceError as exc:
            self.ledger.manual(client_id)
            self.ledger.warn("orphan_not_revoked", f"revoking client {client_id} failed: {exc}")
            return False
        if outcome.refused is not None:
            self.ledger.warn("orphan_kept", self.explain(client_id, outcome.refused))
            return False
        log.warning("orphan_revoked", client_id=client_id)
        return True

    # by hand

    def by_hand(self, client_id: str, *, force: bool) -> bool | None:
        """
        Revoke *client_id* because the user named it: a client this profile created,
        stored or reported (a possible orphan, the hand-revoke list), or with *force* any
        client the service lists; and, without *force*, only where the rule allows.

        Returns what the service said: True, False (already gone), ``None`` (unsupported).

        Raises:
            UnknownClient: the service does not list it and this profile never knew it.
            CredentialsExist: the rule refuses (another profile stores it, it is this
                profile's working client, an owed sink may serve it, nothing proves it is
                this profile's), and there is no *force*.
        """
        state = self.ledger.state
        pending = state.rotation.pending if state.rotation is not None else None
        if not force and pending is not None and pending.client_id == client_id:
            raise CredentialsExist(
                f"client {client_id} is the new client of an unfinished change of profile "
                f"{self.ledger.profile!r}; run 'credentials rotate' to finish it, or pass --force"
            )
        proof: Proof | None = state.proof(client_id)
        listed = True
        if proof is None:
            clients, _ = self.service.listing()
            listed = clients is not None and client_id in {c.client_id for c in clients}
            if clients is not None and not listed:
                raise self._unknown(client_id)
            reported = client_id in state.orphaned_client_ids + state.manual_revoke_client_ids
            if reported or force or clients is None:
                proof = "asked"  # the user's word, for a client the service shows
        outcome = self.revoke(client_id, proof=proof, force=force)
        if outcome.refused is not None:
            facts = self.facts(client_id, proof)
            raise CredentialsExist(
                f"{explain(facts, outcome.refused, self.ledger.profile)}; pass --force to "
                "revoke it anyway"
            )
        if outcome.existed is False and not listed:
            raise self._unknown(client_id)
        if pending is not None and pending.client_id == client_id:
            state.rotation = None  # the unfinished change's new client is gone
            self.ledger.save()
        current = self.ledger.store.current()
        if outcome.existed is not None and current is not None and current.client_id == client_id:
            TokenCache.for_settings(self.settings).discard(self.settings.url, current)
            self.ledger.warn(
                "current_client_revoked",
                f"profile {self.ledger.profile!r} now holds a revoked credential; "
                "run 'credentials ensure' to replace it",
            )
        return outcome.existed

    def _unknown(self, client_id: str) -> UnknownClient:
        return UnknownClient(
            f"no such client: the service at {self.settings.url} does not list {client_id}, "
            f"and profile {self.ledger.profile!r} never held it; check the id"
        )

    # the DELETE

    def _delete(self, client_id: str) -> bool | None:
        ledger = self.ledger
        state = ledger.state
        state.revoking.append(client_id)
        ledger.save()  # the journal reaches disk before the remote write
        ledger.checkpoint("revoking")
        existed = self.service.delete(client_id)
        ledger.checkpoint("revoked")
        state.revoking.remove(client_id)
        kept: AppCredentials | None = None
        previous = state.previous
        if previous is not None and previous.credentials.client_id == client_id:
            kept = previous.credentials
            state.previous = None
        if existed is None:
            if kept is not None:
                ledger.store.keep(kept)  # still valid at the service: nothing is lost
            ledger.manual(client_id)
            ledger.warn(
                "revoke_unsupported",
                f"the service cannot delete clients; revoke client {client_id} by hand",
            )
        else:
            ledger.report.revoked.append(client_id)
            if client_id in state.manual_revoke_client_ids:
                state.manual_revoke_client_ids.remove(client_id)
            log.debug("client_revoked", client_id=client_id, existed=existed)
        if kept is not None:
            TokenCache.for_settings(self.settings).discard(self.settings.url, kept)
        ledger.save()
        return existed


def _created(when: float | None) -> str:
    return f"created {format_timestamp(when)}" if when is not None else "creation time unknown"
