"""
The CLI's error boundary: every way a run ends becomes its documented exit code and at most
one sentence in the chosen log format, never a raw traceback (docs/logging.md).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import Any, NamedTuple, TextIO

import click

from .. import _log
from .._errors import SpatiafiOpsError
from .._redaction import plain_line, printable
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_BUG,
    EXIT_LOCAL_STATE,
    EXIT_SIGNALLED,
    EXIT_USAGE,
    exit_code_for,
)

# Writes that fail for lack of room or a broken device: local state, not a bug.
_OUTPUT_ERRNOS = frozenset(
    code
    for code in (
        errno.ENOSPC,
        errno.EIO,
        errno.EFBIG,
        errno.EROFS,
        getattr(errno, "EDQUOT", None),
    )
    if code is not None
)
_SIGNAL_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}

log = _log.get_logger("spatiafi_ops.cli")


class Interrupted(BaseException):
    """
    SIGINT or SIGTERM arrived; raised in the main thread so that ``with`` blocks unwind.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` on
    the way up swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StdoutClosed(BaseException):
    """
    The reader of stdout went away (EPIPE); kept from click, which would exit 1.
    """


class Failure(NamedTuple):
    """
    How a run ends: its exit code, the sentence to show (``None``: silence), the usage
    error (whose usage lines the console shows) or bug (whose traceback debug shows), and
    whether stdout itself failed (what it still buffers can never be written).
    """

    exit_code: int
    message: str | None
    usage: click.UsageError | None = None
    bug: BaseException | None = None
    stdout_failed: bool = False


def _interrupted(signum: int) -> Failure:
    name = _SIGNAL_NAMES.get(signal.Signals(signum), f"signal {signum}")
    return Failure(
        EXIT_SIGNALLED + signum,
        f"stopped by {name} before finishing; run the command again to complete it",
    )


# Windows reports a write to a pipe whose reader left as ERROR_NO_DATA ("the pipe is being
# closed"), which CPython raises as OSError(EINVAL) with that winerror, not BrokenPipeError.
_ERROR_NO_DATA = 232


def _is_closed_pipe(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and (
        exc.errno == errno.EPIPE or getattr(exc, "winerror", None) == _ERROR_NO_DATA
    )


def _ended_outside(exc: BaseException) -> Failure | None:
    """
    Return the outcome of a run that something outside ended: a signal, a closed pipe, a
    full disk, the end of standard input; ``None`` for anything else.
    """
    if isinstance(exc, click.Abort):
        # click.prompt turns Ctrl-C and end of input into Abort; what it was stays attached.
        exc = exc.__context__ if isinstance(exc.__context__, KeyboardInterrupt) else EOFError()
    failure = None
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        failure = _interrupted(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
    elif isinstance(exc, StdoutClosed | BrokenPipeError) or _is_closed_pipe(exc):
        failure = Failure(EXIT_BROKEN_PIPE, None, stdout_failed=True)
    elif isinstance(exc, EOFError):
        failure = Failure(EXIT_USAGE, "standard input ended before an answer was read")
    elif isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
        target = exc.filename if exc.filename is not None else "standard output"
        failure = Failure(
            EXIT_LOCAL_STATE,
            f"cannot write to {target}: {exc.strerror or exc}; make room or choose another target",
        )
    return failure


def failure_for(exc: BaseException) -> Failure:
    """
    Return the documented outcome of *exc*, which ended a run.
    """
    if isinstance(exc, click.ClickException):
        usage = exc if isinstance(exc, click.UsageError) else None
        return Failure(exc.exit_code, exc.format_message(), usage=usage)
    if isinstance(exc, SpatiafiOpsError):
        return Failure(exit_code_for(exc), str(exc))
    ended = _ended_outside(exc)
    if ended is not None:
        return ended
    return Failure(
        EXIT_BUG,
        f"unexpected internal error ({type(exc).__name__}: {exc}); "
        "rerun with --log-level debug for the traceback and report it",
        bug=exc,
    )


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """
    Turn SIGINT and SIGTERM into :class:`Interrupted` in the main thread.

    Locks are released and atomic writes abandoned by the ``with`` blocks they unwind;
    a second Ctrl-C ends the process at once, and a second SIGTERM waits for the first.
    A signal the parent set to be ignored (``nohup``, background jobs) stays ignored.
    """

    def stop(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def routed_to_logs() -> Iterator[None]:
    """
    Send Python warnings and exceptions that nothing catches (threads, finalizers) to the
    log pipeline, instead of raw text and tracebacks on stderr.
    """

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        log.warning(
            "python_warning",
            category=category.__name__,
            message=str(message),
            location=f"{filename}:{lineno}",
        )

    def thread_failed(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread is not None else None
        log.error("thread_failed", thread=thread, exc_info=args.exc_value)

    def unraisable(args: Any) -> None:
        log.warning("exception_ignored", exc_info=args.exc_value)

    saved = threading.excepthook, sys.unraisablehook
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        threading.excepthook = thread_failed
        sys.unraisablehook = unraisable
        try:
            yield
        finally:
            threading.excepthook, sys.unraisablehook = saved


def _write_stderr(text: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(text)
        sys.stderr.flush()


def report(failure: Failure, log_format: str, level: str) -> None:
    """
    Show how the run ended: the bug's traceback at debug level, then the one sentence.

    *log_format* is concrete (console, json or github). Nothing here may raise.
    """
    message = printable(failure.message) if failure.message is not None else None
    traced = failure.bug is not None and level == "debug"
    if message is None and not traced:
        return
    try:
        _log.set_configurator(None)  # before the import: it asks for loggers
        import structlog

        from .. import _logging  # structlog: only when a command configures logging

        _logging.configure(log_format=log_format, level=level)
        if traced:
            structlog.get_logger().debug("internal_error", exc_info=failure.bug)
        if message is None:
            return
        if log_format == "json":
            structlog.get_logger().error("error", exit_code=failure.exit_code, message=message)
        elif log_format == "github":
            _write_stderr(_logging.error_line(message) + "\n")
        elif failure.usage is not None:  # click's own usage lines, then its Error: line
            click.UsageError(plain_line(message), ctx=failure.usage.ctx).show()
        else:
            if failure.exit_code == EXIT_SIGNALLED + signal.SIGINT and sys.stderr.isatty():
                _write_stderr("\n")  # end the line the terminal echoed ^C on
            _write_stderr(f"Error: {plain_line(message)}\n")
    except Exception:  # the last resort: no traceback, ever
        _write_stderr(f"Error: {message or 'the command failed'}\n")
