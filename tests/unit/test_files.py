"""
Atomic private writes and the kernel profile lock.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from spatiafi_ops._errors import LockTimeout, OutputError
from spatiafi_ops._files import atomic_write, exclusive_lock


def test_atomic_write_creates_0600_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """The file appears whole with mode 0600; no temp file remains beside it."""
    target = tmp_path / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    """Replacing a 0644 file yields a 0600 one (the temp file carries the mode)."""
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_atomic_write_into_a_missing_directory_is_an_output_error(tmp_path: Path) -> None:
    """An unwritable target is OutputError naming the path, not an OSError."""
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write(tmp_path / "missing" / "f", b"x")


def test_lock_is_exclusive_between_open_files(tmp_path: Path) -> None:
    """A second holder is told at once (False), or times out when it waits."""
    lock = tmp_path / "profile.lock"
    with exclusive_lock(lock) as first:
        assert first is True
        with exclusive_lock(lock) as second:
            assert second is False
        with pytest.raises(LockTimeout, match="another run"), exclusive_lock(lock, wait=0.1):
            pass
    with exclusive_lock(lock) as again:
        assert again is True


def test_atomic_write_sweeps_temp_files_left_by_killed_writers(tmp_path: Path) -> None:
    """An old .NAME.*.tmp (a writer killed before its rename) is removed; a fresh one stays."""
    import os
    import time

    target = tmp_path / "app_credentials.json"
    old = tmp_path / ".app_credentials.json.abc.tmp"
    fresh = tmp_path / ".app_credentials.json.def.tmp"
    for leftover in (old, fresh):
        leftover.write_text("secret")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    atomic_write(target, b"{}")
    assert not old.exists()
    assert fresh.exists()


def test_private_dirs_are_0700_down_from_the_first_missing_parent(tmp_path: Path) -> None:
    """Every directory we create holds secrets below it: none gets the umask's 0755."""
    from spatiafi_ops._files import ensure_private_dir

    target = tmp_path / "config" / "profiles" / "prod"
    ensure_private_dir(target)
    for directory in (tmp_path / "config", tmp_path / "config" / "profiles", target):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
