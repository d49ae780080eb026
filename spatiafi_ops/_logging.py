"""
Log set-up for applications (our CLI): one redacting pipeline for our structlog events and
stdlib records (requests, urllib3, the emulator), rendered for where stderr lands.

The library never calls :func:`configure`; it only asks ``_log.get_logger`` for loggers
(structlog issue #815: a library MUST NOT configure logging). Formats: docs/logging.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from . import _log
from ._redaction import plain_json, plain_line, printable, redact_value, scrub
from .emit._quoting import escape_command_data

# Workflow commands by level (docs.github.com, "Workflow commands for GitHub Actions");
# info has none: it is a plain line of the job log.
_WORKFLOW_COMMANDS = {
    "debug": "debug",
    "warning": "warning",
    "error": "error",
    "critical": "error",
    "exception": "error",
}
_HANDLER_NAME = "spatiafi_ops"
# Keys every renderer writes itself, or the runner adds (its own timestamps).
_TEXT_SKIPPED = ("level", "timestamp", "event", "message", "exception")


class BestEffortStream:
    """
    The stream logs go to: ``sys.stderr`` as it is when each line is written, unless given.

    A log line that cannot be written (full disk, closed pipe) is dropped, as stdlib
    logging does: losing a log line must not stop a rotation half-way.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self._stream is None else self._stream

    def isatty(self) -> bool:
        return self.stream.isatty()

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError, AttributeError):  # full, closed, or no stderr at all
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.stream.flush()


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """
    Mask secret-named keys and scrub every registered secret value, at any depth.

    Runs after exceptions are rendered to text, so that exception messages and
    tracebacks are scrubbed too.
    """
    return {
        key: scrub(value) if key == "event" else redact_value(key, value)
        for key, value in event_dict.items()
    }


def terminal_safe(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """
    Write out terminal controls in every text field; only a traceback keeps its newlines.
    """
    return {key: _printable(key, value) for key, value in event_dict.items()}


def _printable(key: str | None, value: Any) -> Any:
    if isinstance(value, str):
        return printable(value, multiline=key == "exception")
    if isinstance(value, dict):
        return {k: _printable(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(None, item) for item in value]
    return value


def summarize_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """
    Replace an exception by one line naming it: tracebacks are shown at debug level only.
    """
    event_dict.pop("stack_info", None)
    exc_info = event_dict.pop("exc_info", None)
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc_info = exc_info[1]
    elif exc_info is True:
        exc_info = sys.exc_info()[1]
    if isinstance(exc_info, BaseException):
        event_dict["error"] = f"{type(exc_info).__name__}: {exc_info}"
    return event_dict


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if text and not any(char.isspace() or char in "\"'=" for char in text):
        return text
    return repr(text)


def event_text(event_dict: EventDict) -> str:
    """
    Return an event as one human line: ``event: message key=value ...`` (and a traceback).
    """
    text = str(event_dict.get("event", ""))
    if "message" in event_dict:
        text += f": {event_dict['message']}"
    fields = [
        f"{key}={_field(value)}" for key, value in event_dict.items() if key not in _TEXT_SKIPPED
    ]
    if fields:
        text += " " + " ".join(fields)
    if "exception" in event_dict:
        text += "\n" + str(event_dict["exception"])
    return text


def github_renderer(_logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
    """
    Render an event for a GitHub Actions job log: ``::debug::``, ``::warning::`` and
    ``::error::`` workflow commands, info as a plain line; secrets were scrubbed before.
    """
    level = str(event_dict.get("level", method))
    command = _WORKFLOW_COMMANDS.get(level)
    if command is None:
        return plain_line(event_text(event_dict))
    return f"::{command}::{command_data(event_text(event_dict))}"


def command_data(text: str) -> str:
    """
    Return *text* as the data of a workflow command we write: escaped, and with no legacy
    ``##[`` command in it (the data is echoed in the job log).
    """
    return escape_command_data(text).replace("##[", "#%23[")


def without_commands(_logger: WrappedLogger, _method: str, line: Any) -> str:
    """
    The last step of the json and console pipelines: the rendered line, with no command a
    CI runner would obey (:func:`plain_line`, :func:`plain_json`).
    """
    line = str(line)  # a renderer's output, not an event dict
    if line.startswith("{"):
        return plain_json(line)
    return "\n".join(plain_line(part) if part else part for part in line.split("\n"))


def error_line(message: str) -> str:
    """
    Return the final ``::error::`` line of a failed command for a GitHub Actions log.
    """
    return f"::error::{command_data(printable(message))}"


def configure(
    *,
    log_format: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """
    Send redacted logs to *stream* (stderr when it is written to): JSON lines, console
    lines or GitHub workflow commands, our events and stdlib records alike.
    """
    out = BestEffortStream(stream)
    log_format, level = _log.resolve(
        log_format,
        level,
        isatty=out.isatty,
        environ=os.environ if environ is None else environ,
    )
    debugging = level == "debug"
    exceptions: Processor
    renderer: Processor
    if log_format == "json":
        exceptions = (
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
            if debugging
            else summarize_exception
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        exceptions = structlog.processors.format_exc_info if debugging else summarize_exception
        renderer = (
            github_renderer
            if log_format == "github"
            else structlog.dev.ConsoleRenderer(colors=False)
        )
    stamped: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendered: list[Processor] = [exceptions, redact_secrets]
    if log_format != "json":  # JSON escapes control characters itself
        rendered.append(terminal_safe)
    rendered.append(renderer)
    if log_format != "github":  # its renderer writes only commands of ours and plain lines
        rendered.append(without_commands)
    numeric_level = _log.LEVELS[level]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamped, *rendered],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # requests, urllib3, authlib and the emulator log through stdlib logging: same renderer.
    handler = logging.StreamHandler(out)
    handler.setLevel(numeric_level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *stamped],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendered],
        )
    )
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)  # configured again (the emulator, the final error)
    root.addHandler(handler)
    # Other libraries' chatter only when debugging; their warnings always.
    root.setLevel(logging.DEBUG if debugging else logging.WARNING)
    # botocore's debug lines quote request and answer bodies, the secret inside escaped
    # twice over (JSON in JSON, then repr): kept at WARNING, which quotes none.
    logging.getLogger("botocore").setLevel(logging.WARNING)
