"""
What a state file must be before we read it: a regular file of ours, private, small.

Every read of a credential, legacy, rotation-state, backup or token-cache file goes through
``read_private_file``; what is checked, per platform, is documented in docs/files.md.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import NamedTuple

from ._errors import CredentialFileError, InsecurePermissions

# Our state files are a few KiB: anything much bigger is not ours, and is never read whole.
MAX_STATE_BYTES = 256 * 1024

# open(2) flags that only POSIX has: no symlink as the last component, no hang on a FIFO,
# no controlling terminal. Windows needs binary mode instead, or os.write translates "\n".
if sys.platform == "win32":
    OPEN_FLAGS = os.O_BINARY | os.O_NOINHERIT
    NOFOLLOW = 0
    NONBLOCK = 0
else:
    OPEN_FLAGS = os.O_CLOEXEC | os.O_NOCTTY
    NOFOLLOW = os.O_NOFOLLOW
    NONBLOCK = os.O_NONBLOCK


class StateFile(NamedTuple):
    """
    A state file read whole, with the facts of the descriptor it was read from.
    """

    data: bytes
    mode: int  # permission bits
    mtime: float
    open_to_others: bool  # group or others have a permission bit (never on Windows)


def read_private_file(
    path: Path, *, allow_insecure: bool = False, fix: str | None = None
) -> StateFile | None:
    """
    Return the state file at *path*, or ``None`` when there is none.

    The file is opened without following a symbolic link and without blocking, so that a
    FIFO planted at the path cannot hang us; then it is judged by its descriptor, so the
    checks and the read concern one file: a regular file of at most ``MAX_STATE_BYTES``,
    owned by this user, open to neither group nor others unless *allow_insecure*.

    Args:
        fix: what the insecure-permissions error tells the user to run (a chmod by default).

    Raises:
        CredentialFileError: not a regular file, too big, or unreadable.
        InsecurePermissions: a symbolic link, another user's file, or a mode open to others.
    """
    try:
        fd = os.open(path, os.O_RDONLY | OPEN_FLAGS | NOFOLLOW | NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise open_error(path, exc) from None
    try:
        info = os.fstat(fd)
        check_regular(path, info)
        check_owner(path, info)
        if not allow_insecure and is_open_to_others(info):
            fix = fix or f"run 'chmod 600 {path}'"
            raise InsecurePermissions(
                f"{path} holds secrets but has mode {stat.S_IMODE(info.st_mode):04o}; "
                f"{fix} (or pass --allow-insecure-permissions)",
                path=str(path),
            )
        data = read_all(fd, path, limit=MAX_STATE_BYTES)
    finally:
        os.close(fd)
    return StateFile(data, stat.S_IMODE(info.st_mode), info.st_mtime, is_open_to_others(info))


def read_all(fd: int, path: Path, *, limit: int) -> bytes:
    """
    Read *fd* to its end, refusing more than *limit* bytes.

    Raises:
        CredentialFileError: when there is more, or the read fails.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := os.read(fd, 64 * 1024):
            size += len(chunk)
            if size > limit:
                raise CredentialFileError(
                    f"{path} is larger than {limit // 1024} KiB, so it is not a credential "
                    "or state file; move it away",
                    path=str(path),
                )
            chunks.append(chunk)
    except OSError as exc:
        raise CredentialFileError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    return b"".join(chunks)


def open_error(path: Path, exc: OSError) -> CredentialFileError | InsecurePermissions:
    """
    Return the error to raise for a state file that *exc* kept us from opening.
    """
    if os.path.islink(path):
        # O_NOFOLLOW: a link could point a root process at any file (ELOOP on Linux/macOS).
        return InsecurePermissions(
            f"{path} is a symbolic link; state files must be regular files, so replace "
            "the link with the file itself",
            path=str(path),
        )
    if os.path.isdir(path):
        return CredentialFileError(
            f"{path} is a directory, not a credential or state file", path=str(path)
        )
    return CredentialFileError(f"cannot read {path}: {exc.strerror}", path=str(path))


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def describe_kind(mode: int) -> str:
    """
    Return what a non-regular file is, for messages: "a directory", "a socket", ...
    """
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path: Path, info: os.stat_result) -> None:
    """
    Refuse anything but a regular file where a state file belongs.

    Raises:
        CredentialFileError: naming what is there instead.
    """
    if not stat.S_ISREG(info.st_mode):
        kind = describe_kind(info.st_mode)
        if kind == "a directory":
            message = f"{path} is a directory, not a credential or state file"
        else:
            message = f"{path} is {kind}, not a regular file; remove it"
        raise CredentialFileError(message, path=str(path))


def check_owner(path: Path, info: os.stat_result) -> None:
    """
    Refuse a file or directory that another user owns: they could change it under us.

    Windows has no owner in ``st_uid``; there the per-user profile's ACLs stand in for
    this check (docs/files.md).

    Raises:
        InsecurePermissions: naming the owner and the fix.
    """
    if sys.platform != "win32" and info.st_uid != os.geteuid():
        me = os.geteuid()
        raise InsecurePermissions(
            f"{path} belongs to uid {info.st_uid}, not to this user (uid {me}), so its owner "
            f"could change it under us; use a path of your own (or 'chown {me} {path}' if "
            "it is yours)",
            path=str(path),
        )


def is_open_to_others(info: os.stat_result) -> bool:
    """
    Return whether group or others have any permission on the file.

    Always False on Windows: its ``st_mode`` has only a read-only bit, and the
    directory's ACL decides who reads the file (docs/files.md).
    """
    return sys.platform != "win32" and bool(info.st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def check_private_dir(directory: Path) -> None:
    """
    Refuse a directory we keep state in unless this user owns it and no one else can
    write to it (who can write there can replace our files). A missing one passes.

    Raises:
        InsecurePermissions: naming the directory and the fix.
    """
    if sys.platform != "win32":  # there the profile's ACLs stand in (docs/files.md)
        _check_posix_dir(directory)


def _check_posix_dir(directory: Path) -> None:
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InsecurePermissions(
            f"cannot check {directory}: {exc.strerror}", path=str(directory)
        ) from None
    check_owner(directory, info)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InsecurePermissions(
            f"{directory} is writable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), who could replace the files in it; "
            f"run 'chmod 700 {directory}'",
            path=str(directory),
        )
