"""
Private files done right: private directories, atomic writes, kernel locks, and a process
that leaves no core file behind (reading state files: ``_statefiles``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ._errors import InsecurePermissions, LockTimeout, LockUnavailable, OutputError
from ._statefiles import (
    NOFOLLOW,
    NONBLOCK,
    OPEN_FLAGS,
    check_owner,
    check_private_dir,
    check_regular,
    is_open_to_others,
    open_error,
)

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """
    Create *path*, and each missing parent, with mode 0700 (``mkdir(parents=True)`` would
    give the parents the umask's mode instead); then check it is ours alone to write.

    Raises:
        OutputError: when the directory cannot be created.
        InsecurePermissions: when it exists but another user owns or can write to it.
    """
    try:
        missing = []
        for directory in (path, *path.parents):  # up to the first that exists, no further
            if directory.exists():
                break
            missing.append(directory)
        for directory in reversed(missing):
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create directory {path}: {exc.strerror}", path=str(path)
        ) from None
    if not path.is_dir():
        raise OutputError(f"{path} exists and is not a directory", path=str(path))
    check_private_dir(path)


# Temp files are ".NAME.spatiafi-<16 hex>.tmp": the sweep below removes exactly that
# shape, for exactly NAME, so that no other file can match (a NAME of "*" included).
_TEMP_TAG = "spatiafi-"
_TEMP_SUFFIX = ".tmp"
_TEMP_HEX = 16


def _temp_name(name: str) -> str:
    return f".{name}.{_TEMP_TAG}{os.urandom(_TEMP_HEX // 2).hex()}{_TEMP_SUFFIX}"


def _is_our_temp(entry: str, name: str) -> bool:
    prefix, suffix = f".{name}.{_TEMP_TAG}", _TEMP_SUFFIX
    if not (entry.startswith(prefix) and entry.endswith(suffix)):
        return False
    middle = entry[len(prefix) : len(entry) - len(suffix)]
    return len(middle) == _TEMP_HEX and all(ch in "0123456789abcdef" for ch in middle)


def atomic_write(path: Path, data: bytes, *, mode: int = FILE_MODE, durable: bool = True) -> None:
    """
    Replace *path* with *data* so that readers see the old or the new file, never a mix.

    The temp file is created with *mode* from the start (never through a symbolic
    link), fsynced, renamed over *path*, and the directory fsynced, so a crash at any
    instant leaves a whole file behind. With *durable* false the two fsyncs and the sweep
    of killed writers' temp files are skipped: for a cache, which a power cut may lose but
    never leaves half-written, and whose directory holds a file per key (a sweep per write
    would scan them all).

    Raises:
        OutputError: when the file cannot be written.
    """
    directory = path.parent
    fd, temp = _create_temp(path, mode)
    try:
        if sys.platform != "win32":
            os.fchmod(fd, mode)  # the umask may have taken bits from the mode given to open
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    os.close(fd)
    try:
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    if durable:
        fsync_dir(directory)
        _sweep_stale_temp_files(path)


def _create_temp(path: Path, mode: int) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | OPEN_FLAGS | NOFOLLOW
    for _ in range(100):
        temp = path.parent / _temp_name(path.name)
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    raise OutputError(f"cannot write {path}: no free temp file name", path=str(path))


# A temp file older than this was left by a writer that was killed before its rename.
STALE_TEMP_AGE = 60.0


def _sweep_stale_temp_files(path: Path) -> None:
    """
    Remove our temp files of *path* left by killed writers: they may hold a secret.
    """
    cutoff = time.time() - STALE_TEMP_AGE
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            if not _is_our_temp(entry.name, path.name):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    os.unlink(entry.path)


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


def _open_lock_file(path: Path) -> int:
    """
    Open (or create, 0600) the lock file at *path*, never through a symbolic link, and
    only if it is a regular file of ours: a FIFO there cannot hang us, and a link there
    cannot make us (even as root) create a file elsewhere.
    """
    flags = os.O_RDWR | os.O_CREAT | OPEN_FLAGS | NOFOLLOW | NONBLOCK
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        error = open_error(path, exc)
        if isinstance(error, InsecurePermissions):
            raise error from None
        raise LockUnavailable(
            f"cannot open the lock file {path}: {exc.strerror}", path=str(path)
        ) from None
    try:
        info = os.fstat(fd)
        check_regular(path, info)
        check_owner(path, info)
        if sys.platform != "win32" and is_open_to_others(info):
            # flock works on a read-only descriptor: whoever can open it can hold it.
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: float = 0.0) -> Iterator[bool]:
    """
    Hold the kernel's exclusive lock on *path*; yield False at once if another holds it.

    The lock lives in the kernel, so it is released when the process ends, even by
    SIGKILL: there is never a stale lock file to clean up, and the file is never
    unlinked (a waiter may hold it open). With *wait* > 0 we poll for up to that many
    seconds and raise instead of yielding False.

    Raises:
        LockTimeout: when *wait* > 0 and the lock stayed held for that long.
        LockUnavailable: when this file system cannot lock (a network share).
        InsecurePermissions: when the directory or the lock file is not ours alone.
    """
    ensure_private_dir(path.parent)
    fd = _open_lock_file(path)
    try:
        give_up = time.monotonic() + wait
        while not _try_lock(fd, path):
            if wait <= 0:
                yield False
                return
            if time.monotonic() >= give_up:
                raise LockTimeout(
                    f"another run still holds {path} after {wait:g}s; try again later",
                    path=str(path),
                )
            time.sleep(0.05)
        try:
            yield True
        finally:
            from filelock import unlock_descriptor

            with contextlib.suppress(OSError):
                unlock_descriptor(fd)  # Windows may release a closed handle's lock late
    finally:
        os.close(fd)


def _try_lock(fd: int, path: Path) -> bool:
    """
    Take the lock on *fd* without waiting; return whether we got it.
    """
    # filelock's descriptor API: flock(2) on POSIX (released by the kernel when the
    # process dies, even by SIGKILL), LockFileEx through ctypes on Windows. Chosen over
    # its FileLock class and over portalocker because we keep our own open: no symlink,
    # owner checked, never unlinked (FileLock unlinks on Windows, portalocker.Lock opens
    # by path), and no soft-lock fallback (a marker file SIGKILL would leave behind).
    # portalocker's Windows lock without pywin32 is msvcrt.locking of a byte range from
    # the file position, and its import reads package metadata. Imported here, not at
    # the top: a cached token takes no lock and must not pay for the import (make bench).
    from filelock import lock_descriptor

    try:
        return lock_descriptor(fd, blocking=False)
    except OSError as exc:
        raise LockUnavailable(
            f"cannot lock {path} ({exc.strerror or exc}): this file system does not "
            "support kernel locks (a network share?); use a local directory with "
            "--config-dir or --cache-dir",
            path=str(path),
        ) from None


# prctl(2) option from <linux/prctl.h>.
_PR_SET_DUMPABLE = 4
# The soft core-file limit our caller gave us, once harden_process lowered it.
_caller_core_limit: int | None = None


def caller_core_limit() -> int | None:
    """
    Return the soft RLIMIT_CORE this process had before ``harden_process`` lowered it
    (``None``: not lowered), for the programs it starts.
    """
    return _caller_core_limit


def harden_process(*, memory: bool = False) -> None:
    """
    Keep this process's secrets out of core files; with *memory*, out of other processes.

    RLIMIT_CORE 0 stops the kernel writing a core file (a SIGQUIT under
    ``ulimit -c unlimited`` would write one into the working directory). Only the soft
    limit is lowered, and the caller's is recorded: the programs this process starts get
    it back (``_children.restore_caller_limits``).

    *memory*, on Linux: PR_SET_DUMPABLE 0 also keeps crash collectors that ignore that
    limit, and other processes of this user, out of our memory (prctl(2); exec(2) gives
    programs we start their own). For commands that hold a secret no file of ours holds
    (the user's password, credentials read from stdin); it costs importing ctypes (~2
    ms), more than a cached token can spare (make bench), whose secrets are all in this
    user's own 0600 files anyway. Best effort: where either is missing, nothing changes.
    """
    global _caller_core_limit  # noqa: PLW0603 - a fact of the process, like the limit itself
    if sys.platform != "win32":
        import resource

        with contextlib.suppress(OSError, ValueError):
            soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
            if soft != 0:
                resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
                if _caller_core_limit is None:
                    _caller_core_limit = soft
    if memory and sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
