"""
A fake wall clock for the processes of a simulated host (tests/deployments/host.py): when
``SPATIAFI_TEST_CLOCK_OFFSET`` is set, ``time.time`` runs that many seconds ahead.

Loaded by Python's ``site`` at start-up (this directory is on PYTHONPATH), before any module
of the tool; the monotonic clock is left alone, as a wall-clock jump leaves it.
"""

from __future__ import annotations

import os
import time

_OFFSET = float(os.environ.get("SPATIAFI_TEST_CLOCK_OFFSET") or 0.0)
if _OFFSET:
    _real_time = time.time

    def _shifted_time() -> float:
        return _real_time() + _OFFSET

    time.time = _shifted_time
