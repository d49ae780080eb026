"""
The programs we start (``exec``'s command, ``command:`` sinks, ``gh``) get the caller's
resource limits and, for the ones we wait on, a bound on their time and on what we keep of
their output; their environment is ``_environ.child_environment``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, NamedTuple

from . import _files

# What is kept of a child's stderr for its error: the end, where the reason is.
TAIL_BYTES = 64 * 1024
# How long the rest of a failed child's stderr is waited for once it has exited (a child of
# its own session may hold the pipe open for ever).
_TAIL_GRACE = 1.0
_CHUNK = 64 * 1024


def restore_caller_limits() -> None:
    """
    Give this process back the soft core-file limit its caller set, before it becomes
    another program (``execve``): ours is 0 only to keep our secrets out of core files.
    """
    restore = _limit_restorer()
    if restore is not None:
        restore()


def _limit_restorer() -> Callable[[], None] | None:
    """
    Return what sets the caller's soft core-file limit back (``None``: nothing to do), all
    looked up now: in a forked child, before exec, an import could wait for ever on a lock
    another thread held at the fork.
    """
    caller = _files.caller_core_limit()
    if sys.platform != "win32" and caller is not None:  # Windows has no such limit
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        limits = (caller, hard)
        setrlimit, which = resource.setrlimit, resource.RLIMIT_CORE

        def restore() -> None:
            with contextlib.suppress(OSError, ValueError):
                setrlimit(which, limits)

        return restore
    return None


class Finished(NamedTuple):
    """
    How a child ended: its exit status (``None``: stopped when its time ran out; negative:
    the signal that ended it) and the last ``TAIL_BYTES`` of its stderr.
    """

    returncode: int | None
    stderr_tail: bytes


class _Tail:
    """
    Reads a pipe to its end in a daemon thread, keeping only its last ``TAIL_BYTES``: a child
    that writes 300 MB costs no memory.
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(pipe.fileno(), _CHUNK):
                with self._lock:
                    self._kept += chunk
                    del self._kept[:-TAIL_BYTES]

    def result(self, wait: float) -> bytes:
        self._thread.join(wait)
        with self._lock:
            return bytes(self._kept)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    # A child may exit, or stop reading, before taking it all: that is its answer.
    with contextlib.suppress(OSError, ValueError):
        pipe.write(data)
    with contextlib.suppress(OSError, ValueError):
        pipe.close()


def run_child(
    argv: Sequence[str], data: bytes, *, timeout: float, env: Mapping[str, str]
) -> Finished:
    """
    Run *argv* with *data* on stdin; done when it exits (or *timeout* is spent), then end
    what it left behind in its process group.

    A child is done when it exits, not when its pipes close: a background job holding
    stderr (or one that left the group with ``setsid``) does not hold us up.

    Raises:
        OSError: when the program cannot be started.
    """
    posix = sys.platform != "win32"
    process = subprocess.Popen(  # noqa: S603 - argv chosen by the user's sink spec
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=posix,
        # Only when we lowered a limit: preexec_fn costs the fast spawn path.
        preexec_fn=_limit_restorer(),  # noqa: PLW1509
    )
    stdin, stderr = process.stdin, process.stderr
    if stdin is None or stderr is None:  # pragma: no cover - both are PIPEs
        raise OSError("the child's pipes were not created")
    tail = _Tail(stderr)
    threading.Thread(target=_feed, args=(stdin, data), daemon=True).start()
    try:
        code: int | None = process.wait(max(0.1, timeout))
    except subprocess.TimeoutExpired:
        code = None
    _end_group(process)
    if code is None:
        process.wait()
    return Finished(code, tail.result(0.0 if code == 0 else _TAIL_GRACE))


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """
    Kill what is left of *process*'s session: itself if still running, and its children.
    """
    if sys.platform != "win32":
        import signal

        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.kill()
