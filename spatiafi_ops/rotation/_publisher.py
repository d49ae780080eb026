"""
Publishing the current client to the sinks that are owed it (README: Rotation).

A change owes its new client to every sink the run names and to every sink the client
before it was owed; the journal records them (``published.owed``), so a later run that names
none of them still knows, keeps the previous client valid (the ownership rule's (d)) and
says so. ``--forget-sink SPEC`` drops a sink from what is owed.
"""

from __future__ import annotations

import time

from .._errors import SecretStoreRefused, SecretStoreUnavailable
from .._http import Deadline
from .._models import AppCredentials, Payload
from ..sinks._publish import Sink
from ._ledger import Ledger
from ._state import Published


class Publisher:
    """
    Publishes one profile's current client to the sinks owed it, journaling each answer.
    """

    def __init__(
        self, ledger: Ledger, sinks: tuple[Sink, ...], forget: tuple[str, ...], deadline: Deadline
    ) -> None:
        self.ledger = ledger
        self.sinks = sinks
        self.forget = forget
        self.deadline = deadline
        self._warned = False
        self._unsaved = False  # the record changed since the journal was last written

    def owe(self, new: AppCredentials) -> None:
        """
        Record, at the switch, that *new* is owed to the sinks its predecessor was owed and
        to the run's sinks (journaled with the switch).
        """
        before = self.ledger.state.published
        owed = list(before.owed) if before is not None else []
        self.ledger.state.published = Published(new.client_id, owed=owed)
        self._record()

    def missing(self) -> list[str]:
        """
        Return the sinks owed the current client that have not confirmed it.
        """
        published = self._record()
        return published.missing() if published is not None else []

    def _record(self) -> Published | None:
        """
        Return the journal's record for the current client, with the run's sinks owed and
        the forgotten ones dropped (``None`` when nothing is or was owed).
        """
        state = self.ledger.state
        current = self.ledger.store.current()
        published = state.published
        if current is None or (published is None and not self.sinks):
            return None
        if published is None or published.client_id != current.client_id:
            # Replaced outside a change (an import): owed wherever the last one was.
            owed = list(published.owed) if published is not None else []
            published = state.published = Published(current.client_id, owed=owed)
            self._unsaved = True
        for sink in self.sinks:
            if sink.target not in published.owed:
                published.owed.append(sink.target)
                self._unsaved = True
        for target in self.forget:
            if target in published.owed:
                published.owed.remove(target)
                published.sinks.pop(target, None)
                self._unsaved = True
                self.ledger.warn(
                    "sink_forgotten",
                    f"{target} is no longer owed client {published.client_id} (--forget-sink)",
                )
        return published

    def publish(self) -> None:
        """
        Publish the current client to every named sink that lacks it, journaling each
        success; say which owed sinks this run does not name; raise the first failure once
        every sink has been tried (the next run resumes).
        """
        published = self._record()
        if published is None:
            return
        missing = published.missing()
        named = {sink.target: sink for sink in self.sinks}
        unnamed = [target for target in missing if target not in named]
        if unnamed and not self._warned:
            self._warned = True
            self.ledger.warn(
                "sinks_owed",
                f"client {published.client_id} is owed to {', '.join(unnamed)}, which this "
                "run does not publish to; the previous client stays valid until they have it: "
                "name them with --publish, or drop one with --forget-sink SPEC",
            )
        todo = [named[target] for target in missing if target in named]
        if todo:
            self._publish(published, todo)
        elif self._unsaved:
            self.ledger.save()  # owed sinks and forgotten ones are on disk
        self._unsaved = False

    def _publish(self, published: Published, todo: list[Sink]) -> None:
        ledger = self.ledger
        current = ledger.store.current()
        assert current is not None  # _record() returns None without current credentials
        previous = ledger.state.previous
        payload = Payload(
            ledger.profile,
            current,
            previous.credentials.client_id if previous is not None else None,
        )
        failure: SecretStoreUnavailable | SecretStoreRefused | None = None
        for sink in todo:
            ledger.checkpoint("publishing")
            try:
                sink.publish(payload, timeout=self.deadline.remaining())
            except (SecretStoreUnavailable, SecretStoreRefused) as exc:
                failure = failure or exc
                ledger.warn("publish_failed", str(exc))
                continue
            ledger.checkpoint("published")
            published.sinks[sink.target] = time.time()
            ledger.report.published.append(sink.target)
            ledger.save()  # each confirmation is on disk before the next sink
        ledger.save()
        if failure is not None:
            raise failure
