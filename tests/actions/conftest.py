"""
Fixtures for the action tests: a job around composite action runs, aimed at the emulator.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from spatiafi_ops.emulator import EmulatorHandle

from .harness import Job

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "actions"
TOKEN_ACTION = ACTIONS / "token"
ROTATE_ACTION = ACTIONS / "rotate"

# The runner imitation and the examples' wrappers execute bash scripts and #! stand-ins the
# POSIX way; on Windows, .github/workflows/selftest.yml runs the actions on a real runner
# (and a bare `bash` there may start WSL's bash.exe). A test takes both marks.
POSIX_BASH = pytest.mark.posix("runs bash scripts and #! programs as a Linux or macOS runner does")
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def base_env(root: Path) -> dict[str, str]:
    """
    Return a minimal runner-like environment: no SPATIAFI_* from the developer's shell.

    ``SPATIAFI_ACTION_PYTHON`` and ``SPATIAFI_ACTION_VENV`` point actions/setup.py at the
    interpreter and venv running the tests (so setup-python is skipped and nothing is
    installed); only the tests that say so pay for a real install.
    """
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(root),
        "SPATIAFI_ACTION_PYTHON": sys.executable,
        "SPATIAFI_ACTION_VENV": sys.prefix,
        "SPATIAFI_DEADLINE": "20",
    }


@pytest.fixture(name="job")
def _job(tmp_path: Path) -> Job:
    """
    A fresh job (its own RUNNER_TEMP, workspace and masks) using the test venv.
    """
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    return Job(root=tmp_path / "job", env=base_env(tmp_path))


@pytest.fixture(name="app_credentials")
def _app_credentials(spatiafi_emulator: EmulatorHandle) -> dict[str, str]:
    """
    App credentials of the emulator's default user: ``{"user_id", "client_id", "client_secret"}``.
    """
    created = spatiafi_emulator.create_client()
    return {
        "user_id": str(created.user_id),
        "client_id": created.client_id,
        "client_secret": created.client_secret,
    }
