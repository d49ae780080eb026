"""
Durations as users write them: ``90s``, ``15m``, ``12h``, ``30d`` or bare seconds.
"""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
# Ten years: longer than any grace, age or TTL anyone means, and far inside what datetime
# and the OS timers accept, so that no later arithmetic on a parsed duration can overflow.
MAX_DURATION = 3650 * 86400.0


def parse_duration(text: str, *, maximum: float = MAX_DURATION) -> float:
    """
    Return the number of seconds that *text* stands for, at most *maximum*.

    A use with a tighter bound (a request timeout) passes its own *maximum*.

    Raises:
        ValueError: with a sentence fit for the user when *text* is not a duration, or
            a longer one than *maximum*.
    """
    match = _PATTERN.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"{text[:40]!r} is not a duration; use a number of seconds or a number followed "
            "by s, m, h or d (for example 90s, 15m, 12h, 30d)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not seconds <= maximum:  # also false for inf and nan
        raise ValueError(
            f"{text.strip()[:40]!r} is longer than the longest duration allowed here "
            f"({format_duration(maximum)})"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """
    Return the shortest exact spelling of *seconds* in the largest whole unit.
    """
    whole = round(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
