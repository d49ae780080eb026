"""
`make demo` (examples/demo.py) runs end to end and shows the cache at work.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import record_output

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_runs_and_serves_the_second_token_from_the_cache() -> None:
    """The README's first command: exit 0, one mint, the cache reused, no token printed."""
    proc = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, check=False, timeout=120
    )
    record_output(proc.stderr, proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert "token requests at the service still: 1" in proc.stdout
    assert "from the cache" in proc.stdout
    assert "Done:" in proc.stdout
