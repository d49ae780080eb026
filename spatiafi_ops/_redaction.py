"""
The secrets currently in play, and the one function that scrubs them from text.

Library code registers every secret it handles (password, client secret, token,
assertion); the CLI's log processor and error printer scrub them. Nothing here imports
structlog, so registering is free on the fast path.
"""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "**redacted**"
# Keys whose values are secret whatever they hold (SPEC §6).
SECRET_KEY_PATTERN = re.compile(
    r"secret|password|passwd|token|assertion|authorization|private_key|api_key|cookie",
    re.IGNORECASE,
)
# Shorter values would scrub ordinary words out of messages.
_MIN_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """
    Remember *value* (and its base64 and URL-encoded spellings) for scrubbing.
    """
    global _pattern  # noqa: PLW0603 - one process-wide registry, by design
    if not value or len(value) < _MIN_LENGTH:
        return
    spellings = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    }
    with _lock:
        if spellings <= _secrets:
            return
        _secrets.update(spellings)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def scrub(text: str) -> str:
    """
    Return *text* with every registered secret replaced by a fixed marker.
    """
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def known_secrets() -> frozenset[str]:
    """
    Return every registered spelling (for leak scans in tests and proofs).
    """
    with _lock:
        return frozenset(_secrets)


def forget_secrets() -> None:
    """
    Clear the registry (for tests and long-lived processes that switch accounts).
    """
    global _pattern  # noqa: PLW0603
    with _lock:
        _secrets.clear()
        _pattern = None
