"""
Durations as users type them (README: The CLI).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spatiafi_ops._durations import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("30d", 2592000),
        ("45", 45),
        ("0", 0),
        ("1.5m", 90),
        (" 2H ", 7200),
    ],
)
def test_parse_duration_accepts_documented_spellings(text: str, seconds: float) -> None:
    """Each documented unit, and bare seconds, parse to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-5s", "5w", "5 m", "1e3", "ten", "5ms", "∞"])
def test_parse_duration_rejects_malformed_text_with_a_sentence(text: str) -> None:
    """Malformed durations raise ValueError whose message names the value and the units."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_duration_round_trips(seconds: int) -> None:
    """format_duration spells whole seconds so that parse_duration reads them back."""
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_uses_the_largest_whole_unit() -> None:
    """A day is 1d, not 86400s; 90 seconds stays 90s."""
    assert [format_duration(s) for s in (86400, 7200, 900, 90, 0)] == [
        "1d",
        "2h",
        "15m",
        "90s",
        "0s",
    ]


@pytest.mark.parametrize("text", ["3000000d", "3651d", "87601h", "1" + "0" * 400, "9" * 5000])
def test_durations_longer_than_ten_years_are_refused(text: str) -> None:
    """A clean ValueError (exit 2 at the CLI), never an overflow later in datetime."""
    with pytest.raises(ValueError, match="longest duration allowed here"):
        parse_duration(text)


def test_ten_years_is_the_default_maximum_and_a_use_may_tighten_it() -> None:
    """3650d passes by default; a per-use maximum (a request timeout) refuses more."""
    assert parse_duration("3650d") == MAX_DURATION
    assert parse_duration("1d", maximum=86400) == 86400
    with pytest.raises(ValueError, match=r"\(1d\)"):
        parse_duration("25h", maximum=86400)
