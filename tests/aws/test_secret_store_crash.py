"""
A replica killed with SIGKILL at every step of a change, the change finished by another
replica (its own config dir) from what the secret holds.

The kill comes from the documented test hook ``SPATIAFI_OPS_CRASH_AT=<step>``
(``spatiafi_ops.rotation._engine.crash_point``) in a real ``python -m spatiafi_ops`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.rotation import CRASH_ENV, CRASH_POINTS
from tests.aws.conftest import payload_for
from tests.aws.test_secret_store import CREATE_ROUTE, ROTATE, labels, live
from tests.conftest import RecordingRunner, record_output

# Reached only with --publish (tests/e2e/test_publish.py kills there).
STEPS = tuple(step for step in CRASH_POINTS if step not in ("publishing", "published"))


def crash(tmp_path: Path, step: str) -> None:
    """
    Rotate in a replica of its own with the crash hook armed at *step*; check it died.
    """
    env = {
        **os.environ,
        "SPATIAFI_CONFIG_DIR": str(tmp_path / "killed" / "config"),
        "SPATIAFI_CACHE_DIR": str(tmp_path / "killed" / "cache"),
        CRASH_ENV: step,
    }
    process = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", *ROTATE],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    record_output(process.stdout, process.stderr)
    assert process.returncode == -signal.SIGKILL, process.stderr


def mints_from_the_secret(runner: RecordingRunner) -> bool:
    return runner.run(["token", "--no-cache"]).exit_code == 0


@pytest.mark.posix("SIGKILL")
@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_replica_killed_at_any_step_is_finished_by_another(
    runner: RecordingRunner,
    store_service: EmulatorHandle,
    reader: Any,
    secret_name: str,
    tmp_path: Path,
    step: str,
) -> None:
    """
    After SIGKILL, AWSCURRENT mints; another replica's run creates at most one client;
    once converged, every live client is AWSCURRENT's or AWSPREVIOUS's (the account
    declared exclusive, so that a lost create's client is revoked, not only reported).
    """
    # One machine per account here, so a lost create's client may be revoked, not only
    # reported (docs/many-machines.md: --exclusive-account); the secret keeps the setting.
    created = runner.run(["credentials", "create", "--exclusive-account"])
    assert created.exit_code == 0, created.stderr

    crash(tmp_path, step)
    assert mints_from_the_secret(runner), "a consumer must find a working credential"
    creates = store_service.count(CREATE_ROUTE)

    recovered = runner.run(ROTATE)  # this test's config dir: another replica

    assert recovered.exit_code == 0, recovered.stderr
    assert store_service.count(CREATE_ROUTE) - creates <= 1
    assert mints_from_the_secret(runner)
    converged = runner.run(["credentials", "rotate"])
    assert converged.exit_code == 0, converged.stderr
    held = labels(reader, secret_name)
    assert live(store_service) <= {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
    assert json.loads(converged.stdout)["client_id"] == held["AWSCURRENT"]


@pytest.mark.posix("SIGKILL")
def test_a_pending_client_that_can_no_longer_switch_is_revoked(
    runner: RecordingRunner,
    store_service: EmulatorHandle,
    reader: Any,
    secret_name: str,
    tmp_path: Path,
) -> None:
    """
    A replica killed with its client in AWSPENDING, then AWSCURRENT moved by someone else:
    the next run revokes that client (its swap can only fail) and drops the label.
    """
    assert runner.run(["credentials", "create"]).exit_code == 0
    crash(tmp_path, "journaled")
    stranded = labels(reader, secret_name)["AWSPENDING"]
    published = store_service.create_client()
    # Another writer switches the secret (moto's PutSecretValue without stages mislabels
    # versions once UpdateSecretVersionStage moved AWSCURRENT: move it as a replica does).
    stages = reader.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    current = next(vid for vid, labels_ in stages.items() if "AWSCURRENT" in labels_)
    value = json.dumps(payload_for(published, emulator=store_service).to_json())
    version = reader.put_secret_value(
        SecretId=secret_name, SecretString=value, VersionStages=["ELSEWHERE"]
    )["VersionId"]
    reader.update_secret_version_stage(
        SecretId=secret_name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=version,
        RemoveFromVersionId=current,
    )

    converged = runner.run(["credentials", "rotate", "--max-age", "365d"])

    assert converged.exit_code == 0, converged.stderr
    assert stranded not in live(store_service)
    assert json.loads(converged.stdout)["revoked_client_ids"] == [stranded]
    assert labels(reader, secret_name)["AWSCURRENT"] == published.client_id
    assert "AWSPENDING" not in labels(reader, secret_name)
