"""
The service's clock as Date headers show it (a fake local clock: the one thing faked).
"""

from __future__ import annotations

import email.utils

import pytest

from spatiafi_ops._clock import SIGNING_MARGIN, SKEW_TOLERANCE, ServiceClock, parse_http_date

NOW = 1_800_000_000.0


def fixed(now: float = NOW) -> ServiceClock:
    """A ServiceClock whose local clock stands still at *now* (faked: no waiting)."""
    return ServiceClock(local=lambda: now)


def date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),
        ("Sun, 06 Nov 1994 08:49:37 -0000", 784111777.0),
        ("Sun, 06 Nov 1994 09:49:37 +0100", 784111777.0),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("Sun, 06 Nov 99999 08:49:37 GMT", None),
        ("Sun, 32 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100, None),
    ],
    ids=["gmt", "minus-zero", "offset", "empty", "missing", "text", "year", "day", "long"],
)
def test_http_dates_parse_or_are_ignored(value: str | None, expected: float | None) -> None:
    """RFC 9110 §5.6.7 dates, -0000 as UTC (never local time); anything else is None."""
    assert parse_http_date(value) == expected


def test_the_offset_is_taken_at_the_midpoint_of_the_exchange() -> None:
    """Date is stamped between send and receipt, truncated to the second."""
    clock = fixed()
    clock.observe(date(NOW + 600), sent=NOW - 1.0, received=NOW + 1.0)
    assert clock.offset == pytest.approx(600.5)
    assert clock.now() == pytest.approx(NOW + 600.5)
    assert clock.to_local(NOW + 600.5) == pytest.approx(NOW)


def test_an_unusable_date_keeps_what_was_measured() -> None:
    """A later answer without a usable Date does not forget the offset."""
    clock = fixed()
    clock.observe(date(NOW - 300), sent=NOW, received=NOW)
    clock.observe("garbage", sent=NOW, received=NOW)
    clock.observe(None, sent=NOW, received=NOW)
    assert clock.offset == pytest.approx(-299.5)


@pytest.mark.parametrize(
    ("offset", "forced", "signed_at"),
    [
        (None, False, None),
        (None, True, None),
        (SKEW_TOLERANCE - 1, False, None),
        (SKEW_TOLERANCE - 1, True, NOW + SKEW_TOLERANCE - 1 - SIGNING_MARGIN),
        (600.0, False, NOW + 600 - SIGNING_MARGIN),
        (-600.0, False, NOW - 600 - SIGNING_MARGIN),
    ],
    ids=["unknown", "unknown-forced", "noise", "noise-forced", "ahead", "behind"],
)
def test_assertions_are_signed_on_the_service_clock_only_when_it_matters(
    offset: float | None, forced: bool, signed_at: float | None
) -> None:
    """Local time (None: authlib's own) until the clocks differ or a retry asks for it."""
    clock = fixed()
    if offset is not None:
        clock.observe(date(NOW + offset - 0.5), sent=NOW, received=NOW)
    result = clock.signing_time(on_service_clock=forced)
    if signed_at is None:
        assert result is None
    else:
        assert result == pytest.approx(signed_at)


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (None, "could not be measured"),
        (600.0, "600s behind the service's"),
        (-600.0, "600s ahead of the service's"),
    ],
)
def test_the_skew_is_described_from_this_machine(offset: float | None, words: str) -> None:
    """The service ahead means this machine's clock is behind."""
    clock = fixed()
    if offset is not None:
        clock.observe(date(NOW + offset - 0.5), sent=NOW, received=NOW)
    assert words in clock.describe()
    assert clock.skewed is (offset is not None)
