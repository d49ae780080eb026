"""
The suite's own duration rule: a test over 15 s carries the slow marker (tests/conftest.py).
"""

from __future__ import annotations

from typing import Literal

import pytest

from tests.conftest import SLOW_CALL_SECONDS, fail_if_unmarked_and_slow, unmarked_and_slow


def report(
    duration: float, *, when: Literal["setup", "call", "teardown"] = "call", slow: bool = False
) -> pytest.TestReport:
    keywords: dict[str, Literal[1]] = {"test_x": 1, **({"slow": 1} if slow else {})}
    location = ("x.py", 1, "test_x")
    return pytest.TestReport(
        "tests/x.py::test_x", location, keywords, "passed", None, when, duration=duration
    )


def test_an_unmarked_call_over_the_limit_fails_naming_its_time() -> None:
    over = report(SLOW_CALL_SECONDS + 1.5)
    assert unmarked_and_slow(over)
    fail_if_unmarked_and_slow(over)
    assert over.failed
    assert "took 16.5 s" in str(over.longrepr)


@pytest.mark.parametrize(
    "fine",
    [
        report(SLOW_CALL_SECONDS + 1.5, slow=True),
        report(SLOW_CALL_SECONDS - 0.5),
        report(SLOW_CALL_SECONDS + 1.5, when="setup"),
    ],
    ids=["marked-slow", "under-the-limit", "a-slow-fixture"],
)
def test_a_marked_short_or_set_up_phase_passes(fine: pytest.TestReport) -> None:
    assert not unmarked_and_slow(fine)
    fail_if_unmarked_and_slow(fine)
    assert fine.passed
