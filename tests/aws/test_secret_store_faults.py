"""
Transient AWS errors at 20 % of requests (throttling, 5xx, answers lost after the call took
effect), injected by a proxy in front of moto's server: every run converges.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import SecretStoreUnavailable
from spatiafi_ops._models import ProvisionResult
from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.rotation import Policy, RunContext, create_credentials, rotate_credentials
from tests.aws.conftest import use_aws
from tests.aws.faulty_proxy import FaultyProxy
from tests.aws.test_secret_store import LOGIN, labels, live

RUNS = 8
# A run that meets more faults than botocore's retries absorb stops with its journal in
# the secret (exit 4 from the CLI); the next run takes over. This many runs at most.
RERUNS = 5


@pytest.fixture(name="faulty")
def _faulty(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(moto_url, rate=0.2)
    use_aws(monkeypatch, tmp_path, proxy.url)
    yield proxy
    proxy.close()


def until_done(run: Any) -> ProvisionResult:
    """
    Call *run* until it succeeds (at most RERUNS times), as a schedule would.
    """
    for attempt in range(1, RERUNS + 1):
        try:
            result: ProvisionResult = run()
        except SecretStoreUnavailable:
            if attempt == RERUNS:
                raise
            continue
        return result
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_runs_converge_under_injected_aws_faults(
    store_service: EmulatorHandle,
    faulty: FaultyProxy,
    moto_url: str,
    reader: Any,
    secret_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """
    Every run finishes within RERUNS tries; afterwards AWSCURRENT mints and every live
    client is AWSCURRENT's or AWSPREVIOUS's.
    """
    settings = Settings.from_env()._replace(config_dir=tmp_path / "c", cache_dir=tmp_path / "k")
    until_done(lambda: create_credentials(RunContext(settings, LOGIN)))
    policy = Policy(max_age=0, grace=0)

    results = [
        until_done(lambda: rotate_credentials(RunContext(settings, LOGIN), policy))
        for _ in range(RUNS)
    ]

    assert faulty.injected > 0.1 * faulty.forwarded
    assert [r.action for r in results].count("rotated") >= RUNS // 2
    use_aws(monkeypatch, tmp_path, moto_url)  # faults off: read what converged
    held = labels(reader, secret_name)
    assert live(store_service) <= {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
    assert held["AWSCURRENT"] == rotate_credentials(RunContext(settings, LOGIN)).client_id
