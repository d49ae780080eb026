"""
The secrets currently in play, and the one function that scrubs them from text.

Library code registers every secret it handles (password, client secret, token,
assertion); the CLI's log processor and error printer scrub them. Nothing here imports
structlog, so registering is free on the fast path.
"""

from __future__ import annotations

import re
import threading

REDACTED = "**redacted**"
# Keys whose values are secret whatever they hold (SPEC §6).
SECRET_KEY_PATTERN = re.compile(
    r"secret|password|passwd|token|assertion|authorization|private_key|api_key|cookie",
    re.IGNORECASE,
)
# Shorter values would scrub ordinary words out of messages.
_MIN_LENGTH = 6

_lock = threading.Lock()
_values: set[str] = set()
_spellings: set[str] = set()
_pattern: re.Pattern[str] | None = None
_stale = False


def register_secret(value: str | None) -> None:
    """
    Remember *value* for scrubbing; cheap, so that the fast path can afford it.

    The base64 and URL-encoded spellings are derived when text is first scrubbed.
    """
    global _stale  # noqa: PLW0603 - one process-wide registry, by design
    if not value or len(value) < _MIN_LENGTH or value in _values:
        return
    with _lock:
        _values.add(value)
        _stale = True


def _spellings_of(value: str) -> set[str]:
    import base64
    from urllib.parse import quote, quote_plus

    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    }


def _current_pattern() -> re.Pattern[str] | None:
    global _pattern, _stale  # noqa: PLW0603
    with _lock:
        if _stale:
            for value in _values:
                _spellings.update(_spellings_of(value))
            ordered = sorted(_spellings, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
            _stale = False
        return _pattern


def scrub(text: str) -> str:
    """
    Return *text* with every registered secret, in any spelling, replaced by a marker.
    """
    if not text:
        return text
    pattern = _current_pattern()
    return pattern.sub(REDACTED, text) if pattern is not None else text


def known_secrets() -> frozenset[str]:
    """
    Return every registered spelling (for leak scans in tests and proofs).
    """
    _current_pattern()
    with _lock:
        return frozenset(_spellings)


def forget_secrets() -> None:
    """
    Clear the registry (for tests and long-lived processes that switch accounts).
    """
    global _pattern, _stale  # noqa: PLW0603
    with _lock:
        _values.clear()
        _spellings.clear()
        _pattern = None
        _stale = False
