"""
.github/workflows/selftest.yml, the file itself: its ubuntu job runs in the runner imitation
(tests/actions/workflow_job.py), then the checks of its ``masking`` job run on that job's log
(on GitHub they read the log through the API).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.actions.conftest import base_env
from tests.actions.workflow_job import selftest_job

pytestmark = pytest.mark.posix("the runner imitation runs bash steps and #! programs")

LABELS = (
    "selftest-token",
    "selftest-client-secret",
    "selftest-json-token",
    "selftest-rotated-secret",
)


@pytest.mark.slow
def test_the_selftest_ubuntu_job_passes_and_its_log_is_masked(tmp_path: Path) -> None:
    """Every step as written (the xfail steps fail, as they must); then the masking job's own
    checks: each labelled secret shows as ***, and no JWT is in the log."""
    job = selftest_job(tmp_path, base_env(tmp_path))
    succeeded = job.run()
    outcomes = {step.id: step.outcome for step in job.steps}
    assert succeeded, [
        (s.name, s.outcome, s.log[-5:]) for s in job.steps if s.conclusion != "success"
    ]
    assert {k: v for k, v in outcomes.items() if k.startswith("xfail-")} == dict.fromkeys(
        ["xfail-wrong-secret", "xfail-empty-input", "xfail-write-back"], "failure"
    )
    log = "\n".join(job.log.lines)
    for label in LABELS:
        assert re.search(rf"{label}: \*\*\*\s*$", log, re.MULTILINE), label
    assert not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ", log)
