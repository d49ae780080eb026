"""
The error boundary's table: how each way a run can end maps to an exit code and a sentence.
"""

from __future__ import annotations

import errno
import signal

import click
import pytest

from spatiafi_ops._errors import (
    CredentialsRejected,
    LocalStateError,
    ServiceUnavailable,
    UsageError,
)
from spatiafi_ops.cli._boundary import Failure, Interrupted, StdoutClosed, failure_for


def aborted_by(cause: BaseException) -> click.Abort:
    """An Abort as click.prompt raises it: ``raise Abort() from None`` inside an except."""
    try:
        try:
            raise cause
        except (KeyboardInterrupt, EOFError):
            raise click.Abort() from None
    except click.Abort as abort:
        return abort


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (CredentialsRejected("rejected"), 3),
        (ServiceUnavailable("down"), 4),
        (LocalStateError("locked"), 5),
        (UsageError("bad value"), 2),
        (click.UsageError("no such option"), 2),
        (click.BadParameter("not a duration"), 2),
        (Interrupted(signal.SIGTERM), 143),
        (Interrupted(signal.SIGINT), 130),
        (KeyboardInterrupt(), 130),
        (aborted_by(KeyboardInterrupt()), 130),
        (aborted_by(EOFError()), 2),
        (EOFError(), 2),
        (OSError(errno.ENOSPC, "No space left on device"), 5),
        (OSError(errno.EIO, "Input/output error"), 5),
        (OSError(errno.EFBIG, "File too large", "out.txt"), 5),
        (OSError(errno.EACCES, "Permission denied"), 1),
        (ValueError("a bug"), 1),
        (RecursionError(), 1),
    ],
)
def test_each_ending_has_its_documented_code_and_one_sentence(
    exc: BaseException, code: int
) -> None:
    """Exit 1 is left for what no code expected; every code comes with a one-line sentence."""
    failure = failure_for(exc)
    assert failure.exit_code == code
    assert failure.message
    assert "\n" not in failure.message
    assert (failure.bug is not None) == (code == 1)


@pytest.mark.parametrize("exc", [BrokenPipeError(), StdoutClosed(), OSError(errno.EPIPE, "")])
def test_a_closed_pipe_is_silent(exc: BaseException) -> None:
    """The reader went away: exit 141, as a shell reports SIGPIPE, and nothing to say."""
    assert failure_for(exc) == Failure(141, None, stdout_failed=True)


class _WindowsOSError(OSError):
    """An OSError as CPython raises it on Windows, where it carries ``winerror``."""

    def __init__(self, errno_: int, winerror: int) -> None:
        super().__init__(errno_, "")
        self.winerror = winerror


def test_a_closed_pipe_on_windows_is_silent() -> None:
    """Windows' "pipe is being closed" (EINVAL, ERROR_NO_DATA) is the same closed pipe."""
    closed = _WindowsOSError(errno.EINVAL, 232)
    assert failure_for(closed) == Failure(141, None, stdout_failed=True)
    assert failure_for(_WindowsOSError(errno.EINVAL, 87)).exit_code == 1


def test_messages_name_what_happened() -> None:
    """Signals by name, a full disk by its target, a bug by its type."""
    assert "SIGTERM" in str(failure_for(Interrupted(signal.SIGTERM)).message)
    disk = failure_for(OSError(errno.EFBIG, "File too large", "out.txt"))
    assert disk.message is not None
    assert disk.message.startswith("cannot write to out.txt: File too large")
    stdout = failure_for(OSError(errno.ENOSPC, "No space left on device"))
    assert str(stdout.message).startswith("cannot write to standard output")
    bug = failure_for(ValueError("oops"))
    assert str(bug.message).startswith("unexpected internal error (ValueError: oops)")
