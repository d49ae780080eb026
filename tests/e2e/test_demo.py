"""
`make demo` (examples/demo.py) runs end to end, shows the cache at work, and prints lines
that a user can paste into a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


@pytest.fixture(name="demo_output", scope="module")
def _demo_output() -> str:
    """
    What one run of the demo printed (module-wide: it takes seconds), in an environment
    without the developer's SPATIAFI_* variables.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("SPATIAFI_")}
    proc = subprocess.run(
        [sys.executable, str(DEMO)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    record_output(proc.stderr, proc.stdout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_demo_runs_and_serves_the_second_token_from_the_cache(demo_output: str) -> None:
    """The README's first command: exit 0, one mint, the cache reused, no token printed."""
    assert "token requests at the service still: 1" in demo_output
    assert "from the cache" in demo_output
    assert "password passed on: False" in demo_output
    assert "Done:" in demo_output


def test_the_demo_prints_its_environment_but_no_secret(demo_output: str) -> None:
    """The exports it uses are shown; the password is read by a pasted line, never printed."""
    assert "export SPATIAFI_AUTH_URL=http://127.0.0.1:" in demo_output
    assert "export SPATIAFI_CONFIG_DIR=" in demo_output
    assert "export SPATIAFI_PASSWORD=" in demo_output
    assert DEFAULT_PASSWORD not in demo_output


def test_the_demo_ends_with_the_next_command_to_try(demo_output: str) -> None:
    """Its last line is a command to run."""
    assert demo_output.rstrip().splitlines()[-1].strip().startswith("$ spatiafi-ops exec -- ")


@pytest.mark.posix("bash; on Windows `bash` may start WSL's bash.exe")
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_demos_lines_can_be_pasted_into_a_shell(
    demo_output: str, spatiafi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """
    Its export lines, then its `$ spatiafi-ops` lines, pasted into `bash -e` against a
    fresh emulator (the demo's own is gone, and so are its directories), all succeed.
    """
    shown, _, _next = demo_output.partition("\nDone:")
    lines = [line.strip() for line in shown.splitlines()]
    exports = [line for line in lines if line.startswith("export ")]
    commands = [line.removeprefix("$ ") for line in lines if line.startswith("$ spatiafi-ops ")]
    script = "\n".join(
        [
            "set -e",
            *exports,
            f"export SPATIAFI_AUTH_URL={spatiafi_emulator.url}",
            f"export SPATIAFI_CONFIG_DIR={tmp_path / 'config'}",
            f"export SPATIAFI_CACHE_DIR={tmp_path / 'cache'}",
            *commands,
        ]
    )
    # Nothing SPATIAFI_ from this test's own environment: what the lines set is all there is.
    env = {name: value for name, value in os.environ.items() if not name.startswith("SPATIAFI_")}
    proc = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    record_output(proc.stderr, proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert len(commands) == 5
    assert "password passed on: False" in proc.stdout
    assert spatiafi_emulator.count("token") == 1
