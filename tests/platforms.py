"""
What a test expects where Windows and POSIX differ, in one place.

Tests that need POSIX itself say so with ``@pytest.mark.posix(reason)`` (tests/conftest.py
skips them on Windows); these helpers give the others their Windows form.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

# The status of a process the crash hook killed (spatiafi_ops.rotation._engine.crash_point):
# SIGKILL on POSIX; Windows has no signals to die of, and the hook calls os._exit(137).
if sys.platform == "win32":
    CRASH_EXIT = 137
else:
    import signal

    CRASH_EXIT = -signal.SIGKILL


def python_command(directory: Path, name: str, source: str) -> list[str]:
    """
    Write the Python program *source* into *directory* as the command *name*; return the
    argv prefix that runs it once *directory* is on PATH.

    On POSIX that is an executable ``#!`` script found by name. Windows runs no ``#!``
    line, so there it is ``python name.py``.
    """
    if sys.platform == "win32":
        script = directory / f"{name}.py"
        script.write_text(source, encoding="utf-8")
        return [sys.executable, str(script)]
    script = directory / name
    script.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
    script.chmod(0o755)
    return [name]


def assert_private(path: Path) -> None:
    """
    Assert that *path* is as private as the package makes it on this platform.

    POSIX: mode 0600, or 0700 for a directory. Windows keeps no group or other bits, and
    the folder's inherited ACL protects the files (docs/files.md, "Windows"): there the
    package only promises a file without the read-only flag.
    """
    info = path.stat()
    if sys.platform == "win32":
        assert info.st_mode & stat.S_IWRITE, f"{path} is read-only"
    elif stat.S_ISDIR(info.st_mode):
        assert stat.S_IMODE(info.st_mode) == 0o700, f"{path}: {oct(info.st_mode)}"
    else:
        assert stat.S_IMODE(info.st_mode) == 0o600, f"{path}: {oct(info.st_mode)}"


def bare_environment(**variables: str) -> dict[str, str]:
    """
    Return an environment with nothing of the test's in it: PATH, *variables*, and on
    Windows SYSTEMROOT, without which a Python child cannot start (bpo-20614).
    """
    kept = ("PATH", "SYSTEMROOT") if sys.platform == "win32" else ("PATH",)
    return {**{name: os.environ[name] for name in kept if name in os.environ}, **variables}
