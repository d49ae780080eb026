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
_unindexed: list[str] = []  # registered, spellings not derived yet
_spellings: set[str] = set()
# Spellings by their first _MIN_LENGTH characters, longest first: one dictionary look-up
# per position of the text, however many secrets a fleet run has registered. Buckets are
# tuples, replaced whole, so a scrub in another thread never sees one half-updated.
_by_prefix: dict[str, tuple[str, ...]] = {}


def register_secret(value: str | None) -> None:
    """
    Remember *value* for scrubbing; cheap, so that the fast path can afford it.

    The base64 and URL-encoded spellings are derived when text is first scrubbed.
    """
    if not value or len(value) < _MIN_LENGTH or value in _values:
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _unindexed.append(value)


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


def _current_index() -> dict[str, tuple[str, ...]]:
    with _lock:
        # Only the secrets registered since the last scrub: no rebuild per new secret.
        while _unindexed:
            for spelling in _spellings_of(_unindexed.pop()) - _spellings:
                _spellings.add(spelling)
                prefix = spelling[:_MIN_LENGTH]
                bucket = (*_by_prefix.get(prefix, ()), spelling)
                _by_prefix[prefix] = tuple(sorted(bucket, key=len, reverse=True))
        return _by_prefix


def scrub(text: str) -> str:
    """
    Return *text* with every registered secret, in any spelling, replaced by a marker.

    One pass over the text, whatever the number of secrets (a fleet run registers a few
    per profile), with no pattern to rebuild when one is added.
    """
    index = _current_index()
    if not index or len(text) < _MIN_LENGTH:
        return text
    pieces: list[str] = []
    kept_from = position = 0
    last = len(text) - _MIN_LENGTH
    while position <= last:
        for spelling in index.get(text[position : position + _MIN_LENGTH], ()):
            if text.startswith(spelling, position):
                pieces += (text[kept_from:position], REDACTED)
                position = kept_from = position + len(spelling)
                break
        else:
            position += 1
    if not pieces:
        return text
    pieces.append(text[kept_from:])
    return "".join(pieces)


def known_secrets() -> frozenset[str]:
    """
    Return every registered spelling (for leak scans in tests and proofs).
    """
    _current_index()
    with _lock:
        return frozenset(_spellings)


def forget_secrets() -> None:
    """
    Clear the registry (for tests and long-lived processes that switch accounts).
    """
    with _lock:
        _values.clear()
        _unindexed.clear()
        _spellings.clear()
        _by_prefix.clear()
