"""
Loggers for library code: silent unless the application configured logging.

A library must not print (structlog issue #815), so an event goes, redacted:

- to structlog, when the application configured it (``structlog.is_configured()``);
- else to stdlib ``logging``, as a record of logger ``spatiafi_ops.<module>``, under a
  ``NullHandler`` on ``spatiafi_ops``: shown only by handlers the application added;
- else nowhere.

Nothing is imported for an event that no one can see: structlog and logging are looked up
in ``sys.modules`` (an application that configured them has imported them), so the
cached-token path imports neither. An application (our CLI) may install a configurator that
runs once: before the first event at or above the lowest level it will show, or before the
first such stdlib record (requests, urllib3 and authlib log through stdlib logging, and may
do so before our first event). A run that shows nothing never runs it (make bench: the
cache miss).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._redaction import redact_value, scrub

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # stdlib's numbers
FORMATS = ("auto", "json", "console", "github")  # docs/logging.md
PACKAGE_LOGGER = "spatiafi_ops"

_configurator: Callable[[], None] | None = None
_pending = False  # a configurator was set and has not finished running
# Re-entrant: the configurator imports modules, which ask for their loggers.
_configuring = threading.RLock()
_null_handler_lock = threading.Lock()
_min_level = 0
_null_handler_added = False
_stdlib_watch: Any = None  # the handler that runs the configurator on a stdlib record


def resolve(
    log_format: str, level: str, *, isatty: Callable[[], bool], environ: Mapping[str, str]
) -> tuple[str, str]:
    """
    Return the concrete log format and level an application asked for.

    ``auto`` is ``github`` under GitHub Actions, ``console`` when *isatty*, JSON lines
    otherwise; a job re-run with debug logging (``RUNNER_DEBUG=1``) logs at debug.
    """
    if log_format == "auto":
        if environ.get("GITHUB_ACTIONS") == "true":
            log_format = "github"
        else:
            try:
                log_format = "console" if isatty() else "json"
            except (OSError, ValueError, AttributeError):  # closed or missing stderr
                log_format = "json"
    if environ.get("RUNNER_DEBUG") == "1":
        level = "debug"
    return log_format, level


def set_configurator(configure: Callable[[], None] | None, *, level: str = "debug") -> None:
    """
    Have *configure* run once: before the first event at *level* or above, ours or a
    stdlib record's.
    """
    global _configurator, _min_level, _pending  # noqa: PLW0603 - process-wide, like structlog
    with _configuring:
        _configurator = configure
        _pending = configure is not None
        _min_level = LEVELS[level]
    if "logging" in sys.modules:
        _watch_stdlib()


def _watch_stdlib() -> None:
    """
    Stdlib logging is loaded: have the configurator run before its first record at our
    level reaches the root logger's handlers. At debug it runs now: it opens the root
    logger to the libraries' debug records, which would stop short of a watch.
    """
    global _stdlib_watch  # noqa: PLW0603
    if _min_level <= LEVELS["debug"]:
        _configure_once()
        return
    import logging  # loaded already (by requests, urllib3 or authlib): costs nothing

    root = logging.getLogger()
    with _configuring:
        if _stdlib_watch is None:

            class FirstRecordWatch(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    # The configurator appends its handler to the root logger's, which
                    # stdlib is iterating: that handler shows this record next. The
                    # watch stays, inert.
                    if _pending:
                        _configure_once()

            _stdlib_watch = FirstRecordWatch()
        _stdlib_watch.setLevel(_min_level)
        # Until the configurator runs, the root logger keeps stdlib's default level
        # (WARNING), which is the one the configurator sets when not debugging.
        if _pending and _stdlib_watch not in root.handlers:
            root.addHandler(_stdlib_watch)


def _configure_once() -> None:
    global _configurator, _pending  # noqa: PLW0603
    # Threads of a fleet run log at once: none may log before the set-up is done.
    with _configuring:
        configure, _configurator = _configurator, None
        if configure is not None:
            try:
                configure()
            finally:
                _pending = False


def _to_stdlib(name: str, level: int, event: str, fields: dict[str, Any]) -> None:
    global _null_handler_added  # noqa: PLW0603
    import logging

    if not _null_handler_added:
        with _null_handler_lock:
            if not _null_handler_added:
                # Without a handler anywhere, stdlib's lastResort prints WARNING+ to stderr.
                logging.getLogger(PACKAGE_LOGGER).addHandler(logging.NullHandler())
                _null_handler_added = True
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(level):
        return
    text = " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])
    logger.log(level, "%s", text, extra={"spatiafi": {"event": event, **fields}})


def _emit(name: str, method: str, event: str, fields: dict[str, Any]) -> None:
    level = LEVELS[method]
    if level < _min_level:
        return
    if _pending:
        _configure_once()
    structlog = sys.modules.get("structlog")
    to_structlog = structlog is not None and structlog.is_configured()
    if not to_structlog and "logging" not in sys.modules:
        return  # nothing imported logging, so nothing configured it
    # Another application's processors may not redact: hand them nothing secret. (Our own
    # pipeline redacts again, after rendering exceptions: idempotent, and cheap.)
    exc_info = fields.pop("exc_info", None)
    safe = {key: redact_value(key, value) for key, value in fields.items()}
    if structlog is not None and to_structlog:
        if exc_info is not None:
            safe["exc_info"] = exc_info
        getattr(structlog.get_logger(name), method)(scrub(event), **safe)
    else:
        _to_stdlib(name, level, scrub(event), safe)


class LazyLogger:
    """
    The logger library modules use: ``log.info("event_happened", key=value)``.

    It costs nothing until an event is logged, and then imports nothing that the
    application has not imported already.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def debug(self, event: str, **fields: Any) -> None:
        _emit(self._name, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        _emit(self._name, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        _emit(self._name, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        _emit(self._name, "error", event, fields)


def get_logger(name: str) -> LazyLogger:
    """
    Return a logger for module *name*; free until something is logged.

    Modules ask for their logger after their imports: when those brought stdlib logging
    in, a pending configurator watches it from now, before any library can log through it.
    """
    if _pending and "logging" in sys.modules:
        _watch_stdlib()
    return LazyLogger(name)
