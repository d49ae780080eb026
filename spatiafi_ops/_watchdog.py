"""
The wall-clock bound and the cleartext rule of every network peer: the SpatiaFi transport
(requests, ``_transport``) and AWS (botocore, ``_aws_http``) share them.

A per-read timeout never bounds a request: a server that trickles a byte a second never
trips it. Here a watchdog shuts the request's sockets down when its budget is spent, and
the blocked read fails at once (urllib3's pools hand us the sockets as they connect; a
``ContextVar`` says which request they serve). Answers are read under a byte limit counted
after decompression. Nothing here imports requests: botocore brings urllib3 itself.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from contextvars import ContextVar, Token
from typing import Any
from urllib.parse import urlsplit

from ._errors import InsecureTransport, UnexpectedResponse


def is_loopback(host: str) -> bool:
    """
    Return whether *host* names this machine: ``localhost``, 127.0.0.0/8 or ``::1``.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_cleartext(url: str, proxy: str | None, *, allowed: bool) -> None:
    """
    Refuse an ``http://`` request that would leave this machine in cleartext.

    Raises:
        InsecureTransport: for ``http://`` to a host (or through a proxy) not on loopback.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allowed or parts.scheme.lower() != "http":
        return
    if not is_loopback(host):
        raise InsecureTransport(
            f"refusing to send credentials in cleartext to http://{host}; use https://, or "
            "pass --allow-insecure-transport (SPATIAFI_ALLOW_INSECURE_TRANSPORT=1) "
            "if the network is trusted"
        )
    proxy_host = (
        urlsplit(proxy if "://" in proxy else "http://" + proxy).hostname if proxy else None
    )
    if proxy_host is not None and not is_loopback(proxy_host):
        # A proxy problem, not a transport choice: the flag would send the password through
        # the proxy in cleartext (loopback is only proxied when a caller names a proxy).
        raise InsecureTransport(
            f"refusing to send credentials in cleartext through the proxy at {proxy_host}; "
            f"add {host} to NO_PROXY"
        )


def _shutdown(sock: Any) -> None:
    # The plain socket under TLS (and under TLS-in-TLS): SSLSocket.shutdown would unwrap
    # the TLS object under the feet of the thread reading it.
    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Alarms:
    """
    One daemon thread that fires every request's watchdog when its budget is spent: a
    timer thread per request cost a fleet run more than its requests did (make bench).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def set(self, seconds: float, watchdog: Watchdog) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), watchdog))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spatiafi-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, watchdog = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, threading.TIMEOUT_MAX))
                    continue
                heapq.heappop(self._heap)
            watchdog.expire()

    def forget_thread(self) -> None:
        # After fork the child has no such thread: start one on the next request.
        self._cond = threading.Condition()
        self._thread = None


_ALARMS = _Alarms()
if sys.platform != "win32":
    os.register_at_fork(after_in_child=_ALARMS.forget_thread)


class Watchdog:
    """
    Shuts down the sockets of one request once its budget is spent: the sockets that
    connect, or are taken from a pool, inside its ``with`` block (in this context).
    """

    def __init__(self, budget: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self._stopped = False
        self.expired = False
        self._budget = budget
        self._bound: Token[Watchdog | None] | None = None

    def __enter__(self) -> Watchdog:
        self._bound = _CURRENT_WATCHDOG.set(self)
        _ALARMS.set(self._budget, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bound is not None:
            _CURRENT_WATCHDOG.reset(self._bound)
        with self._lock:
            self._stopped = True
            self._sockets.clear()

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:  # connected after the budget ran out
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


_CURRENT_WATCHDOG: ContextVar[Watchdog | None] = ContextVar("spatiafi_watchdog", default=None)


def _watched(sock: Any) -> None:
    # The socket itself, not the connection: http.client detaches it from the connection
    # (sock = None) once a "Connection: close" answer's headers are read.
    watchdog = _CURRENT_WATCHDOG.get()
    if watchdog is not None and sock is not None:
        watchdog.watch(sock)


def watched_pool(pool: Any) -> Any:
    """
    Return a subclass of the urllib3 connection pool class *pool* whose sockets the
    current watchdog watches: as they connect, and as a kept-alive one is taken again.
    """
    base: Any = pool.ConnectionCls

    class WatchedConnection(base):  # type: ignore[misc]
        def connect(self) -> None:
            super().connect()
            _watched(self.sock)

    class WatchedPool(pool):  # type: ignore[misc]
        ConnectionCls = WatchedConnection

        def _get_conn(self, timeout: float | None = None) -> Any:
            connection = super()._get_conn(timeout)
            _watched(getattr(connection, "sock", None))  # kept alive: no connect() again
            return connection

    WatchedPool.__name__ = f"Watched{pool.__name__}"
    return WatchedPool


def _decoder(coding: str | None, where: str) -> Any:
    # We ask for identity (RFC 9110 §12.5.3); a coding sent anyway is decoded under the
    # same cap, in bounded steps, so that a small bomb never inflates past it.
    name = (coding or "identity").strip().lower()
    if name == "identity":
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise UnexpectedResponse(
        f"{where} answered in a content coding that was not asked for and is not read "
        f"({name[:20].encode('ascii', 'replace').decode()!r})"
    )


def read_capped(chunks: Iterable[bytes], coding: str | None, cap: int, where: str) -> bytes:
    """
    Return the body that *chunks* (as sent, in content coding *coding*) make, decoded;
    reading stops once it passes *cap* bytes, so a longer result means "too long".

    Raises:
        UnexpectedResponse: for a coding we do not read, or a body that does not decode.
    """
    decoder = _decoder(coding, where)
    body = bytearray()
    try:
        for chunk in chunks:
            body += chunk if decoder is None else decoder.decompress(chunk, cap + 1 - len(body))
            if len(body) > cap:
                break
        if decoder is not None and len(body) <= cap:
            body += decoder.flush()
    except zlib.error:
        raise UnexpectedResponse(f"{where} answered with a body that does not decompress") from None
    return bytes(body)
