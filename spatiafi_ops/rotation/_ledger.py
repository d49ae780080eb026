"""
A run's books on one profile: the journal in memory, where it is saved, and what the run did.

The engine and its collaborators (``Publisher``, ``Revoker``) share one ``Ledger``: each
journals through it, reports through it, and passes its crash points (the test hook
``SPATIAFI_OPS_CRASH_AT``) through it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from .. import _log
from ._store import CredentialStore

log = _log.get_logger(__name__)

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


class Ledger:
    """
    One profile's journal as this run holds it, and this run's report.
    """

    def __init__(self, store: CredentialStore) -> None:
        self.store = store
        self.state = store.load_journal()
        self.report = Report()

    @property
    def profile(self) -> str:
        return self.store.profile

    def save(self) -> None:
        """
        Write the journal durably (the file store: temp file, fsync, rename, fsync).
        """
        self.store.save_journal(self.state)

    def checkpoint(self, step: str) -> None:
        """
        Pass crash point *step* (looked up at each call, so a test may replace it).
        """
        crash_point(step)

    def warn(self, event: str, message: str) -> None:
        self.report.warnings.append(message)
        log.warning(event, profile=self.profile, detail=message)

    def manual(self, client_id: str) -> None:
        """
        List *client_id* for revocation by hand, unless some profile stores it now.
        """
        if self.store.holders(client_id):
            return
        if client_id not in self.state.manual_revoke_client_ids:
            self.state.manual_revoke_client_ids.append(client_id)
        if client_id not in self.report.manual:
            self.report.manual.append(client_id)

    def orphaned(self, client_id: str) -> None:
        if client_id not in self.state.orphaned_client_ids:
            self.state.orphaned_client_ids.append(client_id)
        self.report.orphaned.append(client_id)

    def prune_manual(self) -> None:
        """
        Drop from the hand-revoke list the clients some profile stores again.
        """
        listed = self.state.manual_revoke_client_ids
        kept = [client_id for client_id in listed if not self.store.holders(client_id)]
        if kept != listed:
            self.state.manual_revoke_client_ids = kept

    def held(self, client_id: str) -> None:
        """
        Record that this profile stores *client_id* now (newest last).
        """
        held = self.state.held_client_ids
        if not held or held[-1] != client_id:
            if client_id in held:
                held.remove(client_id)
            held.append(client_id)

    def notice_outside_change(self) -> None:
        """
        Take in a store changed outside a change (``credentials import --force``, a
        rollback): the client it now holds is this profile's; the one it replaced stays
        valid, listed for the user; a previous client stored again is no longer previous.
        """
        state = self.state
        current = self.store.current() if state.rotation is None else None
        held = state.held_client_ids
        if current is None or (held and held[-1] == current.client_id):
            return
        if held:
            replaced = held[-1]
            self.manual(replaced)  # unless a profile stores it
            if replaced in state.manual_revoke_client_ids:
                self.warn(
                    "client_replaced_outside",
                    f"client {replaced} was replaced outside a rotation (an import?); it "
                    "is still valid: revoke it by hand once nothing uses it",
                )
        previous = state.previous
        if previous is not None and previous.credentials.client_id == current.client_id:
            state.previous = None
        self.held(current.client_id)
        self.prune_manual()
        self.save()
