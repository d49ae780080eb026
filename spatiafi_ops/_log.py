"""
Lazy loggers: structlog is imported on the first log call, never at import time.

The cached-token path must not pay for importing structlog (STYLE §2, "lazy loading").
The library only asks for loggers; an application (our CLI) may install a configurator
that runs once, just before the first logger is materialised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_configurator: Callable[[], None] | None = None


def set_configurator(configure: Callable[[], None] | None) -> None:
    """
    Have *configure* run once, right before structlog is first used.
    """
    global _configurator  # noqa: PLW0603 - process-wide, like structlog's own config
    _configurator = configure


class LazyLogger:
    """
    A stand-in for ``structlog.get_logger(name)`` that imports structlog when first used.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        global _configurator
        import structlog

        if _configurator is not None:
            configure, _configurator = _configurator, None
            configure()
        return getattr(structlog.get_logger(self._name), method)


def get_logger(name: str) -> LazyLogger:
    """
    Return a logger for module *name*; free until something is logged.
    """
    return LazyLogger(name)
