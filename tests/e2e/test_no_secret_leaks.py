"""
The suite-wide leak scan: no secret any test created appears in any log or error output.

conftest.py collects every captured stderr, log section, failure report and CLI stderr of
the session, and every secret the library registered; this test runs last.
"""

from __future__ import annotations

from spatiafi_ops._redaction import known_secrets
from tests.conftest import CAPTURED_OUTPUT, SEEN_SECRETS


def find_leaks(outputs: list[str], secrets: set[str]) -> list[str]:
    """Return a description of each (secret, output) hit, without printing the secret."""
    hits = []
    for index, text in enumerate(outputs):
        for secret in secrets:
            if secret in text:
                hits.append(f"output #{index} contains a secret of length {len(secret)}")
    return hits


def test_the_scanner_finds_a_planted_secret() -> None:
    """The scan can fail: a planted value is found in any spelling registered."""
    assert find_leaks(["ok", "x s3cr3t-planted y"], {"s3cr3t-planted"}) == [
        "output #1 contains a secret of length 14"
    ]


def test_no_secret_appears_in_any_captured_output() -> None:
    """Every secret of the session is absent from every stderr, log and error report."""
    secrets = SEEN_SECRETS | set(known_secrets())
    assert len(secrets) > 10, "the suite should have handled secrets"
    assert len(CAPTURED_OUTPUT) > 10, "the suite should have captured output"
    assert find_leaks(CAPTURED_OUTPUT, secrets) == []
