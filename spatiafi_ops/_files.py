"""
Private files done right: atomic writes, 0600/0700 modes, permission checks, profile locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from ._errors import InsecurePermissions, LockTimeout, OutputError

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """
    Create *path*, and each missing parent, with mode 0700 (``mkdir(parents=True)`` would
    give the parents the umask's mode instead).

    Raises:
        OutputError: when the directory cannot be created.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create directory {path}: {exc.strerror}", path=str(path)
        ) from None
    if not path.is_dir():
        raise OutputError(f"{path} exists and is not a directory", path=str(path))


def atomic_write(path: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """
    Replace *path* with *data* so that readers see the old or the new file, never a mix.

    The temp file is created with *mode* from the start, fsynced, renamed over *path*,
    and the directory fsynced, so a crash at any instant leaves a whole file behind.

    Raises:
        OutputError: when the file cannot be written.
    """
    import tempfile  # only writers pay for it; the cached-token path only reads

    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    fsync_dir(directory)
    _sweep_stale_temp_files(path)


# A temp file older than this was left by a writer that was killed before its rename.
STALE_TEMP_AGE = 60.0


def _sweep_stale_temp_files(path: Path) -> None:
    """
    Remove temp files of *path* left by killed writers: they may hold a secret.
    """
    cutoff = time.time() - STALE_TEMP_AGE
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def fsync_dir(directory: Path) -> None:
    """
    Make a rename in *directory* durable (POSIX needs the directory itself synced).
    """
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def is_insecure(path: Path) -> bool:
    """
    Return whether *path* can be read or written by group or others.
    """
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def check_private(path: Path, *, allow_insecure: bool = False) -> None:
    """
    Refuse a secret file that group or others can read, unless the user allowed it.

    Raises:
        InsecurePermissions: naming the file and the fix.
    """
    if not allow_insecure and is_insecure(path):
        mode = stat.S_IMODE(path.stat().st_mode)
        raise InsecurePermissions(
            f"{path} holds secrets but has mode {mode:04o}; run 'chmod 600 {path}' "
            "(or pass --allow-insecure-permissions)",
            path=str(path),
        )


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: float = 0.0) -> Iterator[bool]:
    """
    Hold the kernel's exclusive lock on *path*; yield False at once if another holds it.

    The lock lives in the kernel, so it is released when the process ends, even by
    SIGKILL: there is never a stale lock file to clean up. With *wait* > 0 we poll for
    up to that many seconds and raise instead of yielding False.

    Raises:
        LockTimeout: when *wait* > 0 and the lock stayed held for that long.
    """
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise LockTimeout(
            f"cannot open the lock file {path}: {exc.strerror}", path=str(path)
        ) from None
    try:
        give_up = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if wait <= 0:
                    yield False
                    return
                if time.monotonic() >= give_up:
                    raise LockTimeout(
                        f"another run still holds {path} after {wait:g}s; try again later",
                        path=str(path),
                    ) from None
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)
