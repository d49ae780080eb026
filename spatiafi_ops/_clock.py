"""
The service's clock, as the ``Date`` header of its answers shows it (RFC 9110 §6.6.1).

Assertions carry ``iat`` and ``exp`` (RFC 7523 §3), which the service checks on its own
clock: a local clock minutes off gets every assertion rejected. One ``ServiceClock`` per
run measures the offset from every answer and lets the signer use the service's time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Offsets up to this are measurement noise (Date has whole seconds) or within any service's
# leeway: assertions keep the local clock. Beyond it they are signed on the service's.
SKEW_TOLERANCE = 5.0
# Signed that much in the past, so that the 1 s resolution of Date and half a round trip
# can never put our iat in the service's future.
SIGNING_MARGIN = 2.0


def parse_http_date(value: str | None) -> float | None:
    """
    Return the epoch seconds of an HTTP-date (RFC 9110 §5.6.7), or ``None`` if it is none.
    """
    if not value or len(value) > 64:
        return None
    import email.utils
    from datetime import timezone

    try:
        moment = email.utils.parsedate_to_datetime(value)
        if moment.tzinfo is None:  # "-0000": UTC by RFC 5322 §3.3, never local time
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class ServiceClock:
    """
    The offset of the service's clock from ours, measured from its answers during one run.

    Made by whoever runs a command (one per run, shared by its requests and threads) and
    passed to ``mint_token``, ``HttpClient`` and the doctor; a fresh one knows nothing
    until the first answer with a ``Date`` header. *local* is the wall clock (a fake one
    in tests).
    """

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        # Assigned whole (atomic): threads of one fleet run may observe at once.
        self._offset: float | None = None

    @property
    def offset(self) -> float | None:
        """
        Return the service's time minus ours in seconds, ``None`` until measured.
        """
        return self._offset

    @property
    def skewed(self) -> bool:
        """
        Return whether the offset is known and larger than measurement noise.
        """
        return self._offset is not None and abs(self._offset) > SKEW_TOLERANCE

    def observe(self, date: str | None, *, sent: float, received: float) -> None:
        """
        Measure the offset from a ``Date`` header of an answer to a request sent at *sent*
        whose headers arrived at *received* (both local epoch seconds).

        The service stamped Date somewhere in between, truncated to the second: its time
        at the midpoint is taken as Date + 0.5 s. An unusable Date changes nothing.
        """
        stamped = parse_http_date(date)
        if stamped is not None:
            self._offset = stamped + 0.5 - (sent + received) / 2

    def now(self) -> float:
        """
        Return the service's current time as best known (ours while unmeasured).
        """
        return self.local() + (self._offset or 0.0)

    def to_local(self, service_time: float) -> float:
        """
        Return the local time at which the service's clock shows *service_time*.
        """
        return service_time - (self._offset or 0.0)

    def signing_time(self, *, on_service_clock: bool = False) -> float | None:
        """
        Return the ``iat`` to sign with, or ``None`` to let authlib use the local clock.

        The service's time (less a margin) when the clocks differ by more than the
        tolerance, or when *on_service_clock* asks for it (a retry after a rejection for
        time) and the offset is known.
        """
        if self._offset is None or not (self.skewed or on_service_clock):
            return None
        return self.now() - SIGNING_MARGIN

    def describe(self) -> str:
        """
        Return how far this machine's clock is from the service's, in words.
        """
        if self._offset is None:
            return "the service's clock could not be measured (no usable Date header)"
        seconds = abs(self._offset)
        side = "behind" if self._offset > 0 else "ahead of"
        return f"this machine's clock is {seconds:.0f}s {side} the service's"
