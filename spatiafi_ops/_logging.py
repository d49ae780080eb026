"""
structlog set-up for applications (our CLI): stderr, JSON or console, secrets redacted.

The library never calls :func:`configure`; it only asks ``_log.get_logger`` for loggers
(structlog issue #815: a library MUST NOT configure logging).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from ._redaction import REDACTED, SECRET_KEY_PATTERN, scrub

LogFormat = Literal["auto", "json", "console"]
LEVELS = ("debug", "info", "warning", "error", "critical")


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and SECRET_KEY_PATTERN.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(None, item) for item in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """
    Mask secret-named keys and scrub every registered secret value, at any depth.

    Runs after exceptions are rendered to text, so that exception messages and
    tracebacks are scrubbed too.
    """
    redacted: MutableMapping[str, Any] = {}
    for key, value in event_dict.items():
        if key == "event":
            redacted[key] = scrub(str(value))
        else:
            redacted[key] = _redact_value(key, value)
    return dict(redacted)


def configure(
    *, log_format: LogFormat = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """
    Send structured, redacted logs to *stream* (stderr): JSON lines unless it is a TTY.
    """
    out = sys.stderr if stream is None else stream
    use_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    exception_renderer: structlog.typing.Processor
    final: structlog.typing.Processor
    if use_json:
        exception_renderer = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        final = structlog.processors.JSONRenderer()
    else:
        exception_renderer = structlog.processors.format_exc_info
        final = structlog.dev.ConsoleRenderer(colors=False)
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exception_renderer,
            redact_secrets,
            final,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # requests/urllib3/authlib log through stdlib logging; keep them quiet and off stdout.
    logging.basicConfig(stream=out, level=logging.WARNING, format="%(name)s: %(message)s")
