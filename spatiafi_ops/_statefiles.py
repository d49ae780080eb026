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

from . import _log
from ._errors import CredentialFileError, InsecurePermissions

log = _log.get_logger(__name__)

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
        shared = is_open_to_others(info) and _shared_with_own_group(path, info)
        if not allow_insecure and is_open_to_others(info) and not shared:
            fix = fix or f"run 'chmod 600 {path}'"
            raise InsecurePermissions(
                f"{path} holds secrets but has mode {stat.S_IMODE(info.st_mode):04o}; "
                f"{fix} (or pass --allow-insecure-permissions)",
                path=str(path),
            )
        data = read_all(fd, path, limit=MAX_STATE_BYTES)
    finally:
        os.close(fd)
    return StateFile(
        data, stat.S_IMODE(info.st_mode), info.st_mtime, is_open_to_others(info) and not shared
    )


def read_provisioned_file(path: Path, *, allow_insecure: bool = False) -> bytes:
    """
    Return the file at *path* that someone provisioned for us to read (``file:`` sources):
    symbolic links are followed (kubelet's atomic writer makes every key of a mounted
    Secret one), and the file they reach must be one that only this user or root can change.

    A file of ours that group or others can read is refused as the store's are (a chmod
    fixes it); a root-owned one (a mount, a deploy tool's) is read: its modes are its
    provisioner's choice, which we cannot change (docs/files.md).

    Raises:
        CredentialFileError: missing, not a regular file, too big, or unreadable.
        InsecurePermissions: another user's file, or writable by group or others.
    """
    try:
        fd = os.open(path, os.O_RDONLY | OPEN_FLAGS | NONBLOCK)
    except FileNotFoundError:
        raise CredentialFileError(f"{path}: no such file", path=str(path)) from None
    except OSError as exc:
        raise open_error(path, exc) from None
    try:
        info = os.fstat(fd)
        check_regular(path, info)
        if sys.platform != "win32":
            _check_provisioned(path, info, allow_insecure=allow_insecure)
        return read_all(fd, path, limit=MAX_STATE_BYTES)
    finally:
        os.close(fd)


def _check_provisioned(path: Path, info: os.stat_result, *, allow_insecure: bool) -> None:
    if info.st_uid != 0:
        check_owner(path, info)
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InsecurePermissions(
            f"{path} holds secrets and can be changed by group or others (mode {mode:04o}); "
            "give it a mode without group or other write (0400 or 0600)",
            path=str(path),
        )
    if info.st_uid != 0 and not allow_insecure and is_open_to_others(info):
        raise InsecurePermissions(
            f"{path} holds secrets but has mode {mode:04o}; run 'chmod 600 {path}' "
            "(or pass --allow-insecure-permissions)",
            path=str(path),
        )


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
    if info.st_mode & stat.S_IWGRP and _shared_with_own_group(directory, info):
        return
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InsecurePermissions(
            f"{directory} is writable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), who could replace the files in it; "
            f"run 'chmod 700 {directory}'",
            path=str(directory),
        )


# Directories already warned about in this process: the warning is once per run.
_WARNED_SHARED: set[str] = set()


def _shared_with_own_group(path: Path, info: os.stat_result) -> bool:
    """
    Return whether *path* (ours) is open to its group only in the shape kubelet gives a
    volume for the pod's ``fsGroup``, a group this process is in: nothing for others, and
    a setgid directory of that group (the path itself, or a file's directory). Warns once.

    kubernetes pkg/volume/volume_linux.go (``SetVolumeOwnership``): every directory of the
    volume gets the fsGroup, setgid and g+rwx; every file the fsGroup and g+rw.
    """
    if sys.platform != "win32" and not info.st_mode & stat.S_IRWXO:
        if info.st_gid in {os.getegid(), *os.getgroups()}:
            return _in_own_setgid_directory(path, info)
    return False


def _in_own_setgid_directory(path: Path, info: os.stat_result) -> bool:
    directory = path if stat.S_ISDIR(info.st_mode) else path.parent
    try:
        parent = info if directory == path else os.stat(directory)
    except OSError:
        return False
    if not (parent.st_mode & stat.S_ISGID and parent.st_gid == info.st_gid):
        return False
    if str(directory) not in _WARNED_SHARED:
        _WARNED_SHARED.add(str(directory))
        log.warning(
            "shared_with_own_group",
            path=str(directory),
            group=info.st_gid,
            detail="group-writable for a group this process is in (a volume mounted with "
            "fsGroup): its other members can change these files",
        )
    return True
