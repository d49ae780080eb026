"""
The suite-wide secret scan: every secret a test handled against every output a test
produced, in this process (one pytest-xdist worker, or the whole run without xdist).

conftest.py feeds it; it scans incrementally after each test, so that a leak fails the
teardown of the test whose output (or secret) completed the pair, on whichever worker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable


@functools.lru_cache(maxsize=4096)
def _whole_token(secret: str) -> re.Pattern[str]:
    before = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return re.compile(before + re.escape(secret) + after)


def find_leaks(outputs: list[str], secrets: Iterable[str], *, first_index: int = 0) -> list[str]:
    """
    Return a description of each (secret, output) hit, without printing the secret.

    A secret shorter than six characters counts only as a whole token, as scrub() treats it:
    a three-letter password inside an ordinary word is no leak. Outputs are numbered from
    *first_index*.
    """
    hits = []
    for secret in secrets:
        short = _whole_token(secret) if len(secret) < 6 else None
        for index, text in enumerate(outputs, start=first_index):
            if short.search(text) if short is not None else secret in text:
                hits.append(f"output #{index} contains a secret of length {len(secret)}")
    return sorted(hits)


class LeakScan:
    """
    Outputs and secrets of this process, and how far they have been scanned.
    """

    def __init__(self) -> None:
        self.outputs: list[str] = []
        self.secrets: set[str] = set()
        self._scanned_outputs = 0
        self._scanned_secrets: set[str] = set()

    def scan_new(self) -> list[str]:
        """
        Scan what arrived since the last scan: new outputs against every secret, earlier
        outputs against new secrets.
        """
        done = self._scanned_outputs
        new_secrets = self.secrets - self._scanned_secrets
        hits = find_leaks(self.outputs[done:], self.secrets, first_index=done)
        hits += find_leaks(self.outputs[:done], new_secrets)
        self._scanned_outputs = len(self.outputs)
        self._scanned_secrets |= new_secrets
        return hits
