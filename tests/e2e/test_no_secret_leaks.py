"""
The suite-wide leak scan: no secret any test created appears in any log or error output.

conftest.py collects every captured stderr, log section, failure report and CLI stderr of
the session, and every secret the library registered; this test runs last.
"""

from __future__ import annotations

import re

from spatiafi_ops._redaction import known_secrets
from tests.conftest import CAPTURED_OUTPUT, SEEN_SECRETS


def find_leaks(outputs: list[str], secrets: set[str]) -> list[str]:
    """
    Return a description of each (secret, output) hit, without printing the secret.

    A secret shorter than six characters counts only as a whole token, as scrub() treats it:
    a three-letter password inside an ordinary word is no leak.
    """
    hits = []
    for secret in secrets:
        short = None
        if len(secret) < 6:
            before = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
            after = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
            short = re.compile(before + re.escape(secret) + after)
        for index, text in enumerate(outputs):
            if short.search(text) if short is not None else secret in text:
                hits.append(f"output #{index} contains a secret of length {len(secret)}")
    return sorted(hits)


def test_the_scanner_finds_a_planted_secret() -> None:
    """The scan can fail: a planted value is found in any spelling registered."""
    assert find_leaks(["ok", "x s3cr3t-planted y"], {"s3cr3t-planted"}) == [
        "output #1 contains a secret of length 14"
    ]
    assert find_leaks(["abcd", "x abc."], {"abc"}) == ["output #1 contains a secret of length 3"]


def test_no_secret_appears_in_any_captured_output() -> None:
    """Every secret of the session is absent from every stderr, log and error report."""
    secrets = SEEN_SECRETS | set(known_secrets())
    assert len(secrets) > 10, "the suite should have handled secrets"
    assert len(CAPTURED_OUTPUT) > 10, "the suite should have captured output"
    assert find_leaks(CAPTURED_OUTPUT, secrets) == []
