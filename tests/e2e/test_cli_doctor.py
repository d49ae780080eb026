"""
`doctor`: a verdict per check and the exit code of the first failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner
from tests.e2e.conftest import create_credentials


def verdicts(stdout: str) -> dict[str, str]:
    return {check["name"]: check["verdict"] for check in json.loads(stdout)}


def test_a_healthy_setup_passes_every_check(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """Stored credentials that mint, a reachable service, a synced clock: exit 0."""
    create_credentials(runner)
    result = runner.run(["doctor", "--format", "json"])
    assert result.exit_code == 0, result.stdout
    assert verdicts(result.stdout) == {
        "configuration": "ok",
        "credentials": "ok",
        "proxy": "ok",
        "reachability": "ok",
        "clock": "ok",
        "mint": "ok",
    }


def test_cleartext_to_a_far_host_fails_without_contacting_it(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """http:// beyond loopback: configuration fails with 2, naming the option; the service
    is not contacted (no reachability, no mint)."""
    result = runner.run(["--auth-url", "http://spatiafi.invalid", "doctor", "--format", "json"])
    assert result.exit_code == 2
    found = {check["name"]: check for check in json.loads(result.stdout)}
    assert found["configuration"]["verdict"] == "fail"
    assert "--allow-insecure-transport" in found["configuration"]["detail"]
    assert "reachability" not in found
    assert "mint" not in found


def test_revoked_credentials_fail_the_mint_check_with_3(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """A deleted client: the mint check fails and doctor exits 3."""
    created = create_credentials(runner)
    service.delete_client(created["client_id"])
    result = runner.run(["doctor", "--format", "json"])
    assert result.exit_code == 3
    assert verdicts(result.stdout)["mint"] == "fail"


def test_missing_credentials_and_unreachable_service(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """Nothing stored and nothing listening: the first failure's code (5) is the exit code."""
    result = runner.run(["--auth-url", "http://127.0.0.1:9", "doctor", "--format", "json"])
    assert result.exit_code == 5
    found = verdicts(result.stdout)
    assert found["credentials"] == "fail"
    assert found["reachability"] == "fail"
    assert "mint" not in found


@pytest.mark.parametrize(
    "proxy",
    [
        "http://user:hunter2-pass@proxy.invalid:3128",
        "user:hunter2-pass@proxy.invalid:3128",
        "http://user:hunter2@pass@proxy.invalid:3128",
    ],
    ids=["with-scheme", "without-scheme", "at-in-password"],
)
def test_proxy_credentials_are_not_printed(
    runner: RecordingRunner, service: EmulatorHandle, proxy: str
) -> None:
    """A proxy URL with a password is shown without it, however it is written."""
    create_credentials(runner)
    result = runner.run(["doctor"], env={"HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1"})
    assert result.exit_code == 0, result.stdout
    assert "hunter2" not in result.stdout
    assert "pass@" not in result.stdout
    assert "***@proxy.invalid:3128" in result.stdout
    assert "the auth URL is reached directly" in result.stdout
