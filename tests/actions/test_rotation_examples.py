"""
examples/cron/spatiafi-rotate and the systemd units: exit codes drive the alerts.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output

from .conftest import POSIX_BASH, REPO, needs_bash

pytestmark = [POSIX_BASH, needs_bash]

WRAPPER = REPO / "examples" / "cron" / "spatiafi-rotate"
SYSTEMD = REPO / "examples" / "systemd"
OPS = Path(sys.executable).parent / "spatiafi-ops"

ALERT = """#!/bin/sh
printf '%s|%s|%s\\n' "$1" "$2" "$3" >> "$ALERTS"
"""


@pytest.fixture(name="cron_env")
def _cron_env(tmp_path: Path, spatiafi_emulator: EmulatorHandle) -> dict[str, str]:
    """
    A cron-like environment: a stored profile, the password in a 0400 file, an alert recorder.
    """
    alert = tmp_path / "alert"
    alert.write_text(ALERT, encoding="utf-8")
    alert.chmod(0o755)
    password_file = tmp_path / "password"
    password_file.write_text(DEFAULT_PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o400)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SPATIAFI_OPS": str(OPS),
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_CONFIG_DIR": str(tmp_path / "config"),
        "SPATIAFI_CACHE_DIR": str(tmp_path / "cache"),
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD_FILE": str(password_file),
        "SPATIAFI_ROTATE_STATE_DIR": str(tmp_path / "state"),
        "SPATIAFI_ALERT_COMMAND": str(alert),
        "SPATIAFI_LOG_FORMAT": "json",
        "ALERTS": str(tmp_path / "alerts.txt"),
    }
    subprocess.run(
        [str(OPS), "credentials", "create"],
        env={**env, "SPATIAFI_PASSWORD": DEFAULT_PASSWORD},
        capture_output=True,
        check=True,
    )
    return env


def _rotate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [str(WRAPPER), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    record_output(completed.stdout, completed.stderr)  # result JSON and logs: never a secret
    return completed


def _alerts(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["ALERTS"])
    if not path.exists():
        return []
    return [line.split("|") for line in path.read_text(encoding="utf-8").splitlines()]


def test_nothing_due_exits_0_without_alerts(cron_env: dict[str, str]) -> None:
    """
    Fresh credentials: the result JSON says unchanged, exit 0, nobody is paged.
    """
    completed = _rotate(cron_env)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["action"] == "unchanged"
    assert _alerts(cron_env) == []


def test_a_due_rotation_uses_the_password_file(
    cron_env: dict[str, str], spatiafi_emulator: EmulatorHandle
) -> None:
    """
    Max age reached: rotated with the password fed on stdin, never in argv or env.
    """
    cron_env["SPATIAFI_ROTATE_MAX_AGE"] = "0s"
    completed = _rotate(cron_env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["action"] == "rotated"
    assert result["client_id"] in {c["client_id"] for c in spatiafi_emulator.clients()}
    assert _alerts(cron_env) == []


def test_a_rejected_password_pages_critical_with_exit_3(cron_env: dict[str, str]) -> None:
    """
    Exit 3 is critical: a person must fix the login.
    """
    Path(cron_env["SPATIAFI_PASSWORD_FILE"]).chmod(0o600)
    Path(cron_env["SPATIAFI_PASSWORD_FILE"]).write_text("wrong-password\n", encoding="utf-8")
    cron_env["SPATIAFI_ROTATE_MAX_AGE"] = "0s"
    completed = _rotate(cron_env)

    assert completed.returncode == 3
    ((severity, code, message),) = _alerts(cron_env)
    assert (severity, code) == ("critical", "3")
    assert "rejected the credentials" in message


def test_unreachable_warns_then_escalates(cron_env: dict[str, str]) -> None:
    """
    Exit 4 is a warning (the next run retries) until it happens ESCALATE_AFTER times in a row.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cron_env |= {
        "SPATIAFI_AUTH_URL": f"http://127.0.0.1:{port}",
        "SPATIAFI_DEADLINE": "1",
        "SPATIAFI_ROTATE_MAX_AGE": "0s",
        "SPATIAFI_ROTATE_ESCALATE_AFTER": "2",
    }
    assert _rotate(cron_env).returncode == 4
    assert _rotate(cron_env).returncode == 4

    assert [alert[:2] for alert in _alerts(cron_env)] == [["warning", "4"], ["critical", "4"]]
    assert _alerts(cron_env)[1][2].endswith("[2 in a row]")


def test_an_unreadable_password_file_is_a_local_state_problem(cron_env: dict[str, str]) -> None:
    """
    Exit 5, critical, naming the file; spatiafi-ops is not even started.
    """
    cron_env["SPATIAFI_PASSWORD_FILE"] = "/nonexistent/password"
    completed = _rotate(cron_env)

    assert completed.returncode == 5
    ((severity, code, message),) = _alerts(cron_env)
    assert (severity, code) == ("critical", "5")
    assert "/nonexistent/password" in message


def test_systemd_on_failure_alerts_with_the_units_exit_code(
    cron_env: dict[str, str], tmp_path: Path
) -> None:
    """
    --alert-unit (run by OnFailure=) reads ExecMainStatus and maps it like a cron run.
    """
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho 5\n", encoding="utf-8")
    fake.chmod(0o755)
    cron_env["PATH"] = f"{tmp_path}:{cron_env['PATH']}"
    completed = _rotate(cron_env, "--alert-unit", "spatiafi-rotate.service")

    assert completed.returncode == 0, completed.stderr
    ((severity, code, message),) = _alerts(cron_env)
    assert (severity, code) == ("critical", "5")
    assert "unit spatiafi-rotate.service" in message


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_systemd_units_verify(tmp_path: Path) -> None:
    """
    systemd-analyze verify finds nothing wrong but the not-yet-installed wrapper.
    """
    for unit in SYSTEMD.iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    completed = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in (completed.stdout + completed.stderr).splitlines()
        if line.strip() and "/usr/local/bin/spatiafi-rotate is not executable" not in line
    ]
    assert problems == []
