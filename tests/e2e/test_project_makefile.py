"""
The project's Makefile: `make demo` installs no test tool, `make test` no lint toolchain, and
.venv is rebuilt when the Python that made it is not the one asked for.

Each test points VENV at a temporary directory, so the developer's .venv is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.posix("make recipes in /bin/sh; Windows runners have mingw32-make and no sh"),
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _installs(target: str, venv: Path) -> list[str]:
    planned = make("-n", f"VENV={venv}", target)
    assert planned.returncode == 0, planned.stderr
    return [line for line in planned.stdout.splitlines() if "pip install" in line]


def test_demo_installs_the_package_and_its_runtime_dependencies_only(tmp_path: Path) -> None:
    """`make demo` runs examples/demo.py, which needs no test tool: no extras at all."""
    installs = _installs("demo", tmp_path / "venv")

    assert any(line.endswith("pip install --quiet -e .") for line in installs), installs
    assert not any("[" in line for line in installs), installs


def test_test_installs_the_test_extras_and_no_lint(tmp_path: Path) -> None:
    """`make test` adds the test extras to the same venv, never the lint toolchain."""
    installs = _installs("test", tmp_path / "venv")

    assert any("-e '.[test]'" in line for line in installs), installs
    assert not any("lint" in line for line in installs), installs


def test_lint_installs_its_own_extras(tmp_path: Path) -> None:
    """`make lint` adds the lint extras on top of the test ones."""
    planned = make("-n", f"VENV={tmp_path / 'venv'}", "lint")

    assert planned.returncode == 0, planned.stderr
    assert "-e '.[test,lint]'" in planned.stdout


@pytest.mark.slow
def test_the_venv_is_rebuilt_when_its_python_changed(tmp_path: Path) -> None:
    """
    Same Python: left alone. A venv recorded as made by another Python: made anew.
    """
    venv = tmp_path / "venv"
    record = venv / ".python"
    args = (f"VENV={venv}", f"PYTHON={sys.executable}", str(record))
    first = make(*args)
    assert first.returncode == 0, first.stderr
    assert "creating" in first.stdout
    assert (venv / "bin" / "python").exists()
    made = record.stat().st_mtime_ns

    again = make(*args)
    assert again.returncode == 0, again.stderr
    assert "creating" not in again.stdout
    assert record.stat().st_mtime_ns == made

    # As a venv made before an upgrade would be: the record names an older Python.
    record.write_text("3.9.0 (main) [an older build]\n", encoding="utf-8")
    (venv / "left-over").write_text("from the old venv\n", encoding="utf-8")
    rebuilt = make(*args)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "creating" in rebuilt.stdout
    assert not (venv / "left-over").exists()
    assert record.read_text(encoding="utf-8").strip() == sys.version
