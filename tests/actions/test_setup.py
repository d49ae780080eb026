"""
actions/setup.sh: sourced only, checks the interpreter, builds and reuses its own venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spatiafi_ops.emulator import EmulatorHandle

from .conftest import ACTIONS, REPO, TOKEN_ACTION
from .harness import Job, assert_hidden, error_messages


def _without_prepared_venv(job: Job) -> Job:
    del job.env["SPATIAFI_ACTION_VENV"]
    return job


def test_refuses_to_run_unless_sourced(tmp_path: Path) -> None:
    """
    Executing setup.sh (instead of sourcing it) fails with an ::error:: line.
    """
    completed = subprocess.run(
        ["bash", str(ACTIONS / "setup.sh")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path)},
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith(
        "::error title=spatiafi-ops::actions/setup.sh must be sourced"
    )


def test_refuses_an_old_python(job: Job, tmp_path: Path) -> None:
    """
    An interpreter older than 3.10 is named in the error, before any venv is built.
    """
    fake = tmp_path / "python3.8"
    fake.write_text(
        '#!/bin/sh\ncase "$*" in *platform*) echo 3.8.10 ;; *) exit 1 ;; esac\n', encoding="utf-8"
    )
    fake.chmod(0o755)
    _without_prepared_venv(job).env["SPATIAFI_ACTION_PYTHON"] = str(fake)
    result = job.run(TOKEN_ACTION, {"client-id": "x", "client-secret": "y"})

    assert result.exit_code == 1
    (message,) = error_messages(result)
    assert f"needs Python 3.10 or newer, but {fake} is 3.8.10" in message
    assert not list((job.runner_temp / "spatiafi-ops").glob("venv-*"))


def test_refuses_a_prepared_environment_that_is_no_venv(job: Job) -> None:
    """
    SPATIAFI_ACTION_VENV must be a virtual environment: never the system Python.
    """
    job.env["SPATIAFI_ACTION_VENV"] = "/usr"
    result = job.run(TOKEN_ACTION, {"client-id": "x", "client-secret": "y"})

    assert result.exit_code == 5
    (message,) = error_messages(result)
    assert "is not a virtual environment; refusing to use a system Python" in message


@pytest.mark.slow
def test_installs_the_checkout_into_an_isolated_venv_once_per_job(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The real install: hash-pinned requirements plus the action's checkout, reused by later runs.
    """
    _without_prepared_venv(job).env["SPATIAFI_ACTION_PYTHON"] = sys.executable
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            job.env[name] = value  # the machine's index configuration, as on a runner
    job.env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    inputs = {
        "client-id": app_credentials["client_id"],
        "client-secret": app_credentials["client_secret"],
        "auth-url": spatiafi_emulator.url,
    }
    first = job.run(TOKEN_ACTION, inputs)
    assert first.success, first.log.text

    (venv,) = (job.runner_temp / "spatiafi-ops").glob("venv-*")
    assert first.outputs["cli"] == str(venv / "bin" / "spatiafi-ops")
    assert (venv / ".spatiafi-ops-action").read_text().startswith(f"checkout {REPO} ")
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import spatiafi_ops; print(spatiafi_ops.__file__)"],
        cwd=job.workspace,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert installed.startswith(str(venv))  # a copy in the venv, not the checkout
    assert_hidden(first, first.outputs["access-token"])

    started = time.monotonic()
    second = job.run(TOKEN_ACTION, inputs)
    assert second.success, second.log.text
    assert f"spatiafi-ops: reusing {venv}" in second.log.text
    assert second.outputs["access-token"] == first.outputs["access-token"]
    assert time.monotonic() - started < 15  # no second install
