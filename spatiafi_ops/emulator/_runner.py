"""
Starting and stopping an emulator: ``Emulator``, the ``running()`` context manager, ``serve()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from ._config import EmulatorConfig, Timeouts
from ._control import Control
from ._faults import FaultInjector
from ._guard import Guard
from ._handle import EmulatorHandle
from ._routes import Service
from ._server import EmulatorServer
from ._state import State

logger = logging.getLogger("spatiafi_ops.emulator")

# How a wildcard bind address is shown in URLs (this maps names; it binds nothing).
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def _url_host(host: str) -> str:
    host = _WILDCARDS.get(host, host)
    return f"[{host}]" if ":" in host else host


def _config(config: EmulatorConfig | None, overrides: dict[str, Any]) -> EmulatorConfig:
    base = config if config is not None else EmulatorConfig()
    if "users" in overrides:
        overrides["users"] = tuple(overrides["users"])
    if "faults" in overrides:
        overrides["faults"] = tuple(overrides["faults"])
    return dataclasses.replace(base, **overrides)


class Emulator:
    """
    One emulator instance; the socket is bound on construction, so ``url`` is known at once.

    Use ``start()``/``stop()`` (or ``with Emulator(...) as handle:``) to serve in a
    background thread. ``config`` fields may be overridden by keyword.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        self.config = _config(config, overrides)
        timeouts = Timeouts(
            keepalive=self.config.keepalive_timeout,
            header=self.config.header_timeout,
            body=self.config.body_timeout,
        )
        self._server = EmulatorServer((self.config.host, self.config.port), timeouts)
        port = self._server.server_port
        self.url = f"http://{_url_host(self.config.host)}:{port}"
        self.state = State(self.config.users, self.config.clock_offset)
        self.faults = FaultInjector(self.config.faults, self.config.seed)
        issuer = self.config.issuer or self.url
        self.service = Service(self.config, self.state, issuer)
        self._server.control = Control(self.service, self.faults, Guard(port, issuer))
        self.handle = EmulatorHandle(self.url)
        self._started = False
        self._closed = False

    @property
    def token_url(self) -> str:
        """
        The token route under ``url``.
        """
        return self.handle.token_url

    def start(self) -> EmulatorHandle:
        """
        Serve in a daemon thread and return the handle.

        Raises:
            RuntimeError: when already started or stopped.
        """
        if self._started or self._closed:
            raise RuntimeError("this emulator was already started; create a new one")
        self._started = True
        self._server.start()
        logger.info("emulator_started url=%s", self.url, extra={"url": self.url})
        return self.handle

    def stop(self) -> None:
        """
        Stop accepting, close every open connection and release the port; idempotent.
        """
        if self._closed:
            return
        self._closed = True
        self._server.stop()
        logger.info("emulator_stopped url=%s", self.url, extra={"url": self.url})

    def __enter__(self) -> EmulatorHandle:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[EmulatorHandle]:
    """
    Run an emulator in a background thread for the ``with`` block and yield its handle.

    By default it binds a free port on 127.0.0.1; ``str(handle)`` is the base URL.
    """
    emulator = Emulator(config, **overrides)
    try:
        yield emulator.start()
    finally:
        emulator.stop()


def serve(
    config: EmulatorConfig | None = None,
    *,
    ready: Callable[[EmulatorHandle], None] | None = None,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> None:
    """
    Run an emulator until *stop* is set or the process gets KeyboardInterrupt.

    *ready* is called with the handle once the socket accepts connections, for example to
    print the URL.
    """
    stop = stop if stop is not None else threading.Event()
    emulator = Emulator(config, **overrides)
    try:
        handle = emulator.start()
        if ready is not None:
            ready(handle)
        # A timed wait keeps the main thread responsive to signal handlers.
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
