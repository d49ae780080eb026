"""
The suite-wide leak scan: no secret any test created appears in any log or error output.

conftest.py collects every captured stderr, log section, failure report and CLI stderr of
the session (of this worker, under pytest-xdist), and every secret the library registered;
it scans after each test (tests/leak_scan.py), and this test once more at the end.
"""

from __future__ import annotations

from spatiafi_ops._redaction import known_secrets
from tests.conftest import CAPTURED_OUTPUT, SEEN_SECRETS
from tests.leak_scan import LeakScan, find_leaks


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


def test_the_running_scan_finds_a_leak_whichever_came_first() -> None:
    """A secret seen after the output that leaked it is still found, and each pair once."""
    scan = LeakScan()
    scan.outputs.append("x s3cr3t-early y")
    assert scan.scan_new() == []
    scan.secrets.add("s3cr3t-early")
    assert scan.scan_new() == ["output #0 contains a secret of length 12"]
    scan.outputs.append("again s3cr3t-early")
    assert scan.scan_new() == ["output #1 contains a secret of length 12"]
    assert scan.scan_new() == []
