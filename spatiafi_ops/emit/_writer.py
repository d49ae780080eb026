"""
The one place emit/ does I/O: stdout, ``--output`` files and the GitHub runner's files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from .._errors import OutputError
from .._files import atomic_write
from .._log import get_logger
from .._statefiles import NONBLOCK, OPEN_FLAGS, describe_kind
from ._types import FileAppend, Notice, Rendered

_log = get_logger(__name__)

StrPath = str | os.PathLike[str]


def write(
    rendered: Rendered,
    *,
    stdout: TextIO | None = None,
    output: StrPath | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Notice, ...]:
    """
    Write *rendered*: commands to stdout first, then the runner's files, then the product.

    Every target is checked (and the runner's files opened) before the first byte goes
    anywhere, so a missing ``GITHUB_OUTPUT`` fails without printing the mask commands.
    The product goes to *output*, or to *stdout* when *output* is ``None`` or ``"-"``.
    Notices are logged here and returned; callers need not log them again.

    Args:
        stdout: the stream for commands and a stdout product; text is written to its
            binary buffer as UTF-8 when it has one, whatever the locale's encoding.
        environ: where ``GITHUB_OUTPUT`` and friends are looked up (``os.environ``).

    Raises:
        OutputError: a required runner file is unset or missing, or *output* is unwritable.
        ValueError: *output* given for a format without a product (github), or *stdout*
            missing when something must go there.
    """
    env = os.environ if environ is None else environ
    to_stdout = output is None or os.fspath(output) == "-"
    if rendered.text is None and not to_stdout:
        raise ValueError(f"the {rendered.format} format writes to the runner's files, not a path")
    if stdout is None and (rendered.commands or (to_stdout and rendered.text)):
        raise ValueError(f"the {rendered.format} format needs a stdout stream to write to")
    notices = list(rendered.notices)
    with _opened(rendered.appends, env, notices) as targets:
        if rendered.commands and stdout is not None:
            # actions/runner ActionCommandManager.cs: masks registered before the value reaches any
            # file or log.
            _put(stdout, rendered.commands)
        for fd, path, text in targets:
            _append(fd, path, text)
    if rendered.text is not None:
        if output is not None and not to_stdout:
            notices.extend(_write_path(Path(os.fspath(output)), rendered.text))
        elif rendered.text and stdout is not None:
            _put(stdout, rendered.text)
    for notice in notices:
        _log.warning(notice.event, message=notice.message)
    return tuple(notices)


def write_file(path: StrPath, text: str) -> tuple[Notice, ...]:
    """
    Write *text* to *path*: a regular file is replaced atomically with mode 0600 (with a
    warning when it is in a git work tree); one of our own descriptors (``/dev/stdout``,
    ``/dev/fd/N``, ``/proc/self/fd/N``) is written to, whatever it is; a character device or
    named pipe of the user's own is written through, never replaced.

    Notices are logged and returned.

    Raises:
        OutputError: when *path* is something else (a directory, a socket, a block device,
            a symbolic link that does not lead to a device or pipe), or cannot be written.
    """
    notices = _write_path(Path(os.fspath(path)), text)
    for notice in notices:
        _log.warning(notice.event, message=notice.message)
    return notices


def find_git_work_tree(path: Path) -> Path | None:
    """
    Return the nearest directory above *path* holding ``.git`` (a directory or a file).

    A ``.git`` file marks worktrees and submodules. No subprocess: git may be absent.
    """
    start = path.absolute().parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _write_path(path: Path, text: str) -> tuple[Notice, ...]:
    data = text.encode("utf-8")
    descriptor = own_descriptor(path)
    if descriptor is not None:
        _write_descriptor(descriptor, path, data)
        return ()
    if _is_stream(path):
        _write_through(path, data)
        return ()
    atomic_write(path, data)  # README: Output formats: temp, fsync, rename; 0600
    work_tree = find_git_work_tree(path)
    if work_tree is None:
        return ()
    return (
        Notice(
            "output_in_git_work_tree",
            f"{path} is inside the git work tree {work_tree}; make sure it is listed in "
            ".gitignore so that the secrets in it are never committed",
        ),
    )


# The names of this process's own descriptors (Linux, macOS, the BSDs).
_OWN_DESCRIPTORS = {"/dev/stdout": 1, "/dev/stderr": 2}
_FD_DIRECTORIES = ("/dev/fd/", "/proc/self/fd/")


def own_descriptor(path: Path) -> int | None:
    """
    Return the descriptor that *path* names when it is one of this process's own
    (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``), else None.

    Whatever the descriptor is (a terminal, a pipe, a file the shell redirected to), the
    caller opened it for us: writing to it is what ``--output /dev/stdout`` asks.
    """
    name = os.fspath(path)
    if sys.platform != "win32":  # Windows names no descriptor by path
        if name in _OWN_DESCRIPTORS:
            return _OWN_DESCRIPTORS[name]
        for directory in _FD_DIRECTORIES:
            number = name.removeprefix(directory)
            if number != name and number.isascii() and number.isdigit():
                return int(number)
    return None


def _write_descriptor(fd: int, path: Path, data: bytes) -> None:
    """
    Write *data* to our open descriptor *fd*, after what Python buffered for it.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if stream.fileno() == fd:
                stream.flush()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None


def _is_stream(path: Path) -> bool:
    """
    Return True for a device or pipe to write through, False for a file to replace.

    Raises:
        OutputError: for anything else, which replacing would destroy or misdirect.
    """
    try:
        target = os.stat(path)  # through links: /dev/stdout -> /proc/self/fd/1 -> a pipe
    except FileNotFoundError:
        target = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    if target is not None and (stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode)):
        return True
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return False  # a new file
    if stat.S_ISREG(here.st_mode):
        return False
    if stat.S_ISLNK(here.st_mode):
        leads_to = "nowhere" if target is None else _kind(target.st_mode)
        raise OutputError(
            f"{path} is a symbolic link to {leads_to}; --output replaces regular files and "
            "writes through devices and pipes, so give the path of the file itself",
            path=str(path),
        )
    raise OutputError(
        f"{path} is {_kind(here.st_mode)}; --output takes a regular file, a character "
        "device or a named pipe",
        path=str(path),
    )


def _kind(mode: int) -> str:
    return "a regular file" if stat.S_ISREG(mode) else describe_kind(mode)


def _write_through(path: Path, data: bytes) -> None:
    """
    Write *data* into the device or pipe at *path*, without creating or truncating.
    """
    try:
        # Non-blocking open: a FIFO that nothing reads fails at once (ENXIO), never hangs.
        fd = os.open(path, os.O_WRONLY | OPEN_FLAGS | NONBLOCK)
    except OSError as exc:
        reason = "nothing reads that named pipe" if exc.errno == errno.ENXIO else exc.strerror
        raise OutputError(f"cannot write {path}: {reason}", path=str(path)) from None
    try:
        info = os.fstat(fd)
        if not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            raise OutputError(f"{path} changed while it was being opened", path=str(path))
        if sys.platform != "win32" and info.st_uid != os.geteuid():
            # A named pipe another user planted in a shared directory (/tmp) would hand
            # them the secret; a device not ours is no place for it either.
            raise OutputError(
                f"{path} is {_kind(info.st_mode)} owned by another user; --output writes "
                "secrets only into pipes and devices of your own (or /dev/stdout)",
                path=str(path),
            )
        if sys.platform != "win32":
            os.set_blocking(fd, True)  # a reader exists: wait for it rather than drop data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def _opened(
    appends: Sequence[FileAppend], env: Mapping[str, str], notices: list[Notice]
) -> Iterator[list[tuple[int, str, str]]]:
    """
    Open every runner file for appending, or raise before anything is written.
    """
    targets: list[tuple[int, str, str]] = []
    try:
        for append in appends:
            path = env.get(append.env_var, "")
            if not path:
                if append.required:
                    raise OutputError(
                        f"{append.env_var} is not set, so there is nowhere to write the "
                        "outputs; run this inside a GitHub Actions step or choose another "
                        "--format"
                    )
                continue
            try:
                fd = _open_runner_file(path)
            except OSError as exc:
                reason = exc.strerror
                if exc.errno == errno.ENXIO:
                    reason = "it is a named pipe that nothing reads"
                if not append.required:
                    notices.append(
                        Notice(
                            "step_summary_skipped",
                            f"cannot append to {append.env_var} ({path}): {reason}",
                        )
                    )
                    continue
                raise OutputError(
                    f"cannot append to {append.env_var} ({path}): {reason}; the "
                    "runner creates this file for each step, so check the variable",
                    path=path,
                ) from None
            targets.append((fd, path, append.text))
        yield targets
    finally:
        for fd, _, _ in targets:
            os.close(fd)


def check_runner_file(env_var: str, environ: Mapping[str, str]) -> None:
    """
    Prove that the runner file *env_var* names can be appended to, before a command
    changes anything whose outcome goes there (``--format github``).

    Raises:
        OutputError: the variable is unset, or the file cannot be opened for appending.
    """
    path = environ.get(env_var, "")
    if not path:
        raise OutputError(
            f"{env_var} is not set, so there is nowhere to write the outputs; run this "
            "inside a GitHub Actions step or choose another --format"
        )
    try:
        os.close(_open_runner_file(path))
    except OSError as exc:
        reason = (
            "it is a named pipe that nothing reads" if exc.errno == errno.ENXIO else exc.strerror
        )
        raise OutputError(
            f"cannot append to {env_var} ({path}): {reason}; the runner creates this file "
            "for each step, so check the variable",
            path=path,
        ) from None


def _open_runner_file(path: str) -> int:
    """
    Open a runner file for appending, never waiting on it, and only if it is a regular
    file: the runner creates one per step (actions/runner FileCommandManager.cs); we
    append with its mode untouched and never create one of our own.

    Raises:
        OSError: when it cannot be opened, or is not a regular file (ENXIO for a FIFO
            that nothing reads, which a blocking open would wait on for ever).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | OPEN_FLAGS | NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"it is {describe_kind(mode)}, not a regular file")
    return fd


def _append(fd: int, path: str, text: str) -> None:
    """
    Append *text* in one ``write`` (O_APPEND), starting a new line if the file lacks one.
    """
    data = text.encode("utf-8")
    if not data:
        return
    if not _ends_with_newline(fd, path):
        # actions/runner FileCommandManager.cs: a header glued to an unterminated line would turn
        # our value
        # lines into commands of their own.
        data = b"\n" + data
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise OutputError(f"cannot append to {path}: {exc.strerror}", path=path) from None


def _ends_with_newline(fd: int, path: str) -> bool:
    """
    Return whether the regular file open for appending on *fd* is empty or ends a line.
    """
    appending = os.fstat(fd)
    if appending.st_size == 0:
        return True
    try:
        reader = os.open(path, os.O_RDONLY | OPEN_FLAGS | NONBLOCK)
    except OSError:
        return True
    try:
        if not os.path.samestat(os.fstat(reader), appending):
            return True  # replaced since we opened it: our append goes to the old one
        os.lseek(reader, -1, os.SEEK_END)
        return os.read(reader, 1) == b"\n"
    except OSError:
        return True
    finally:
        os.close(reader)


def _put(stream: TextIO, text: str) -> None:
    """
    Write *text* to *stream* as UTF-8 bytes and flush, so it precedes later writes.
    """
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        stream.flush()
        return
    buffer.write(text.encode("utf-8"))
    buffer.flush()
