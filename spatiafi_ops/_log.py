"""
Lazy loggers: structlog is imported on the first log call that passes the level filter.

The cached-token path must not pay for importing structlog (STYLE §2, "lazy loading").
The library only asks for loggers; an application (our CLI) may install a configurator
that runs once, just before structlog is first used, and the lowest level it will show,
so that filtered-out calls cost nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}

_configurator: Callable[[], None] | None = None
_configuring = threading.Lock()
_min_level = 0


def set_configurator(configure: Callable[[], None] | None, *, level: str = "debug") -> None:
    """
    Have *configure* run once, right before structlog is first used for *level* or above.
    """
    global _configurator, _min_level  # noqa: PLW0603 - process-wide, like structlog's config
    _configurator = configure
    _min_level = LEVELS[level]


def _ignore(*_args: Any, **_kwargs: Any) -> None:
    return None


class LazyLogger:
    """
    A stand-in for ``structlog.get_logger(name)`` that imports structlog when first used.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        global _configurator  # noqa: PLW0603
        if LEVELS.get(method, _min_level) < _min_level:
            return _ignore
        import structlog

        if _configurator is not None:
            # Threads of a fleet run log at once: none may log before the set-up is done,
            # or it would print with structlog's defaults, to stdout.
            with _configuring:
                if _configurator is not None:
                    _configurator()
                    _configurator = None
        return getattr(structlog.get_logger(self._name), method)


def get_logger(name: str) -> LazyLogger:
    """
    Return a logger for module *name*; free until something is logged.
    """
    return LazyLogger(name)
