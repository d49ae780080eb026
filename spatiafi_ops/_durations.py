"""
Durations as users write them: ``90s``, ``15m``, ``12h``, ``30d`` or bare seconds.
"""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Ten years: longer is a typo, and would overflow the dates computed from it (grace ends).
MAX_DURATION = 3650 * 86400.0
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


def parse_duration(text: str) -> float:
    """
    Return the number of seconds that *text* stands for.

    Raises:
        ValueError: with a sentence fit for the user when *text* is not a duration.
    """
    match = _PATTERN.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; use a number of seconds or a number followed by "
            "s, m, h or d (for example 90s, 15m, 12h, 30d)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than the longest duration accepted, 3650d")
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
