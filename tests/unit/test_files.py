"""
Atomic private writes, private directories, the kernel profile lock, a hardened process.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spatiafi_ops._errors import (
    CredentialFileError,
    InsecurePermissions,
    LockTimeout,
    OutputError,
)
from spatiafi_ops._files import atomic_write, ensure_private_dir, exclusive_lock
from tests.platforms import assert_private

POSIX_ONLY = pytest.mark.posix("POSIX modes, owners, links and FIFOs")
AS_ROOT = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0,
    reason="another user's files can only be made by root (os.chown)",
)
OTHER_UID = 12345


def test_atomic_write_creates_0600_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """The file appears whole with mode 0600; no temp file remains beside it."""
    target = tmp_path / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert_private(target)
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


@POSIX_ONLY
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


def _age(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_atomic_write_sweeps_its_own_temp_files_left_by_killed_writers(tmp_path: Path) -> None:
    """An old temp file of ours for this name is removed; a fresh one stays."""
    target = tmp_path / "app_credentials.json"
    old = tmp_path / ".app_credentials.json.spatiafi-0123456789abcdef.tmp"
    fresh = tmp_path / ".app_credentials.json.spatiafi-fedcba9876543210.tmp"
    for leftover in (old, fresh):
        leftover.write_text("secret")
    _age(old)
    atomic_write(target, b"{}")
    assert not old.exists()
    assert fresh.exists()


@pytest.mark.posix('"*" and "?" cannot be in a Windows file name')
@pytest.mark.parametrize("name", ["*", "app_credentials.json", "?", "[a-z]*"])
def test_the_sweep_never_deletes_files_of_another_shape(tmp_path: Path, name: str) -> None:
    """
    Exact names, no glob: an output named '*' (or '?', '[a-z]*') leaves every other
    file alone, however old, including other tools' '.X.Y.tmp' files.
    """
    others = [
        ".unrelated.abc.tmp",
        ".app_credentials.json.abc.tmp",
        ".*.abc.tmp",
        f".{name}.spatiafi-0123.tmp",  # too short to be ours
        f".{name}.spatiafi-0123456789ABCDEF.tmp",  # upper case: not ours
        f".{name}x.spatiafi-0123456789abcdef.tmp",  # another name's
    ]
    for other in others:
        (tmp_path / other).write_text("keep me")
        _age(tmp_path / other)
    atomic_write(tmp_path / name, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, name])


@POSIX_ONLY
def test_private_dirs_are_0700_down_from_the_first_missing_parent(tmp_path: Path) -> None:
    """Every directory we create holds secrets below it: none gets the umask's 0755."""
    target = tmp_path / "config" / "profiles" / "prod"
    ensure_private_dir(target)
    for directory in (tmp_path / "config", tmp_path / "config" / "profiles", target):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@POSIX_ONLY
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o707, 0o1777])
def test_a_directory_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    """Who can write the directory can replace our files: refused, with the chmod to run."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(InsecurePermissions, match=f"chmod 700 {directory}") as caught:
        ensure_private_dir(directory)
    assert caught.value.path == str(directory)


@POSIX_ONLY
def test_a_readable_directory_of_ours_is_accepted(tmp_path: Path) -> None:
    """0755 (py-spatiafi's makedirs) is not writable by others: accepted as it is."""
    directory = tmp_path / "spatiafi"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    ensure_private_dir(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


@POSIX_ONLY
@AS_ROOT
def test_a_directory_another_user_owns_is_refused(tmp_path: Path) -> None:
    """A 0700 directory of another uid is theirs to change: refused, naming the owner."""
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePermissions, match=f"belongs to uid {OTHER_UID}"):
        ensure_private_dir(directory)


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
    assert lock.is_file()  # never unlinked: a waiter may hold it open


HOLD_LOCK = """
import sys, time
from pathlib import Path
from spatiafi_ops._files import exclusive_lock
with exclusive_lock(Path(sys.argv[1])) as held:
    print("held" if held else "busy", flush=True)
    time.sleep(120)
"""


def test_a_lock_held_by_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    """
    The kernel releases the lock of a killed holder (SIGKILL; TerminateProcess on Windows);
    the lock file stays.
    """
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with exclusive_lock(lock) as acquired:
            assert acquired is False
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # LockFileEx: Windows frees a dead process's locks soon, POSIX at once.
    with exclusive_lock(lock, wait=30 if sys.platform == "win32" else 0) as acquired:
        assert acquired is True
    assert lock.is_file()


@POSIX_ONLY
def test_a_symlinked_lock_file_is_never_followed(tmp_path: Path) -> None:
    """A link planted as the lock file is refused; its target is never created (as root)."""
    victim = tmp_path / "elsewhere" / "created-through-the-link"
    victim.parent.mkdir()
    lock = tmp_path / "locks" / "token-x.lock"
    lock.parent.mkdir(mode=0o700)
    lock.symlink_to(victim)
    with pytest.raises(InsecurePermissions, match="symbolic link"), exclusive_lock(lock):
        pass
    assert not victim.exists()
    assert lock.is_symlink()


@POSIX_ONLY
def test_a_fifo_as_the_lock_file_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO planted as the lock file is refused (an open could otherwise block)."""
    lock = tmp_path / ".lock"
    os.mkfifo(lock, 0o600)
    with pytest.raises(CredentialFileError, match="named pipe"), exclusive_lock(lock):
        pass


@POSIX_ONLY
@AS_ROOT
def test_a_lock_file_of_another_user_is_refused(tmp_path: Path) -> None:
    """Another user could hold or swap their file: refused, naming the owner."""
    lock = tmp_path / ".lock"
    lock.touch(mode=0o600)
    os.chown(lock, OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePermissions, match=f"uid {OTHER_UID}"), exclusive_lock(lock):
        pass


@POSIX_ONLY
def test_a_lock_file_others_could_open_is_made_private(tmp_path: Path) -> None:
    """flock works on a read-only descriptor: a 0644 lock file of ours becomes 0600."""
    lock = tmp_path / ".lock"
    lock.touch()
    lock.chmod(0o644)
    with exclusive_lock(lock) as acquired:
        assert acquired is True
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
