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
_ordered: tuple[str, ...] = ()  # longest first, so a secret inside another goes second
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


def _current_spellings() -> tuple[str, ...]:
    global _ordered, _stale  # noqa: PLW0603
    with _lock:
        if _stale:
            for value in _values:
                _spellings.update(_spellings_of(value))
            _ordered = tuple(sorted(_spellings, key=len, reverse=True))
            _stale = False
        return _ordered


def scrub(text: str) -> str:
    """
    Return *text* with every registered secret, in any spelling, replaced by a marker.

    Plain substring search: linear in the number of secrets, with no pattern to rebuild
    when a fleet run registers a secret per profile.
    """
    if not text:
        return text
    for spelling in _current_spellings():
        if spelling in text:
            text = text.replace(spelling, REDACTED)
    return text


def known_secrets() -> frozenset[str]:
    """
    Return every registered spelling (for leak scans in tests and proofs).
    """
    _current_spellings()
    with _lock:
        return frozenset(_spellings)


def forget_secrets() -> None:
    """
    Clear the registry (for tests and long-lived processes that switch accounts).
    """
    global _ordered, _stale  # noqa: PLW0603
    with _lock:
        _values.clear()
        _spellings.clear()
        _ordered = ()
        _stale = False
