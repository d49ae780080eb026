"""
The built wheel ships what users import and what the entry points name (the
package sits at the repository root, so tests would not notice a file left out).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_emulator_types_and_both_entry_points(tmp_path: Path) -> None:
    """emulator/, py.typed, the console script and the pytest11 plugin are all in the wheel."""
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("spatiafi_ops-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entries = archive.read(entry_points).decode()
    assert "spatiafi_ops/py.typed" in names
    assert "spatiafi_ops/emulator/__init__.py" in names
    assert "spatiafi_ops/pytest_plugin.py" in names
    assert "spatiafi_ops/emit/_quoting.py" in names
    assert "spatiafi-ops = spatiafi_ops.cli:main" in entries
    assert "[pytest11]" in entries
    assert "spatiafi_ops = spatiafi_ops.pytest_plugin" in entries
    assert not any(name.startswith("tests/") for name in names)
