"""
Secrets for the leak scan: the spellings a leak could take, and a fast index to find them.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, quote_plus

# Characters that make up every spelling of every secret (url-safe and standard base64,
# JWT dots, %-escapes): a secret can only occur inside a run of them.
_SECRET_CHARS = r"[A-Za-z0-9_\-.~%+/=]"
_KEY = 16


def spellings(value: str) -> dict[str, str]:
    """
    Return the spellings of a secret that a leak could take: raw, base64, URL-encoded.
    """
    raw = value.encode()
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    kinds: dict[str, str] = {}
    for spelling, kind in (
        (value, "raw"),
        (std, "base64"),
        (std.rstrip("="), "base64 (unpadded)"),
        (url, "urlsafe base64"),
        (url.rstrip("="), "urlsafe base64 (unpadded)"),
        (quote(value, safe=""), "URL-encoded"),
        (quote_plus(value, safe=""), "URL-encoded (+)"),
    ):
        kinds.setdefault(spelling, kind)  # the first, plainest name of a spelling wins
    return kinds


class SecretIndex:
    """
    Finds any spelling of any of many secrets in text, in time linear in the text.
    """

    def __init__(self) -> None:
        self._by_tail: dict[str, list[tuple[str, str, str]]] = {}
        self._secrets: dict[str, str] = {}
        self._runs = re.compile(f"{_SECRET_CHARS}{{{_KEY},}}")

    def __len__(self) -> int:
        return len(self._secrets)

    def add(self, secret: str, what: str) -> None:
        """
        Index every spelling of *secret*, a *what* (shorter than 16 characters: not indexed).
        """
        if len(secret) < _KEY or secret in self._secrets:
            return
        self._secrets[secret] = what
        for spelling, kind in spellings(secret).items():
            self._by_tail.setdefault(spelling[-_KEY:], []).append((spelling, secret, kind))

    def what(self, secret: str) -> str:
        """
        Return what kind of secret *secret* is (password, client secret, ...).
        """
        return self._secrets.get(secret, "secret")

    def find(self, text: str) -> list[tuple[str, str]]:
        """
        Return (secret, spelling kind) for every secret spelled in *text*.
        """
        hits: list[tuple[str, str]] = []
        for match in self._runs.finditer(text):
            run = match.group()
            for end in range(_KEY, len(run) + 1):
                bucket = self._by_tail.get(run[end - _KEY : end])
                if bucket is None:
                    continue
                for spelling, secret, kind in bucket:
                    if run[max(0, end - len(spelling)) : end] == spelling:
                        hits.append((secret, kind))
        return hits
