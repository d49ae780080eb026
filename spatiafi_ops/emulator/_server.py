"""
The HTTP/1.1 server: one event loop reads every connection, a fixed pool of workers answers.

A client costs a buffer until its request is complete, never a thread: a request line and
headers must arrive within ``header_timeout`` of the first byte (of the connection, for a
new one), a body within ``body_timeout`` of the headers, or the connection is answered 408
and closed. When descriptors, ``MAX_CONNECTIONS`` or ``MAX_BUFFERED`` run out, the connection
that has waited longest for a complete request is dropped to make room; when every worker is
busy and ``QUEUE_SIZE`` requests already wait, a request is answered 503 at once.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import queue
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from ._config import Timeouts
from ._control import Control
from ._framing import Framing, HeadTooLarge, frame
from ._handler import RequestHandler, log_access, render
from ._messages import detail

logger = logging.getLogger("spatiafi_ops.emulator")

WORKERS = 32
QUEUE_SIZE = 128
# select() on Windows watches at most 512 sockets.
MAX_CONNECTIONS = 500 if sys.platform == "win32" else 10_000
MAX_BUFFERED = 64 << 20
# Room for a burst of connections (the kernel caps it: net.core.somaxconn on Linux).
BACKLOG = 4096
_SWEEP = 0.25
# How long a worker waits for a keep-alive client's next request before handing the
# connection back to the event loop: a client that answers at once skips that round trip.
KEEP_WAIT = 0.002
KEEP_SERVES = 64
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    deadline: float
    buffer: bytes = b""
    idle: bool = False  # between two requests of a keep-alive connection
    head_done: bool = False
    continued: bool = False
    framing: Framing | None = field(default=None, repr=False)


class EmulatorServer:
    """
    Binds on construction (so the port is known at once); ``start()`` serves in threads.
    """

    def __init__(self, address: tuple[str, int], timeouts: Timeouts) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform != "win32":  # on Windows, SO_REUSEADDR lets two servers share a port
                self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(BACKLOG)
            self._listener.setblocking(False)
        except BaseException:
            self._listener.close()
            raise
        self.server_port: int = self._listener.getsockname()[1]
        self.timeouts = timeouts
        self.control: Control | None = None
        self._jobs: queue.Queue[_Connection | None] = queue.Queue(QUEUE_SIZE)
        self._returned: collections.deque[_Connection] = collections.deque()
        self._waiting: dict[socket.socket, _Connection] = {}  # oldest wait first
        self._busy: set[socket.socket] = set()
        self._busy_lock = threading.Lock()
        self._buffered = 0
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._date: tuple[int, str] = (0, "")

    def http_date(self, now: float) -> str:
        """
        Return the ``Date`` header for *now*, formatted at most once per second.
        """
        second = int(now)
        cached = self._date
        if cached[0] != second:
            cached = (second, formatdate(second, usegmt=True))
            self._date = cached
        return cached[1]

    def _now(self) -> float:
        return self.control.state.now() if self.control is not None else time.time()

    def start(self) -> None:
        """
        Start the event loop and the workers, as daemon threads.
        """
        name = f"spatiafi-emulator-{self.server_port}"
        self._threads = [threading.Thread(target=self._loop, name=name, daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"{name}-worker", daemon=True)
            for _ in range(WORKERS)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, wait: float = 1.0) -> None:
        """
        Stop accepting, close every connection, release the port; wait up to *wait* seconds
        for the workers (one may be sleeping through a latency fault).
        """
        self._stopping.set()
        self._wake()
        deadline = time.monotonic() + wait
        if self._threads:
            self._threads[0].join()
        with self._busy_lock:
            busy = list(self._busy)
        for sock in busy:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(queue.Empty):  # the loop has ended: nothing is added now
            while True:
                queued = self._jobs.get_nowait()
                if queued is not None:
                    queued.sock.close()
        for _ in self._threads[1:]:
            self._jobs.put_nowait(None)
        for thread in self._threads[1:]:
            thread.join(max(0.0, deadline - time.monotonic()))
        while self._returned:
            self._returned.popleft().sock.close()
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            sock.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: the loop wakes anyway
            self._wake_writer.send(b"\0")

    # The event loop: accept, read, frame, dispatch, expire.

    def _loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            swept = time.monotonic()
            while not self._stopping.is_set():
                for key, _ in selector.select(_SWEEP):
                    if key.fileobj is self._listener:
                        self._accept(selector)
                    elif key.fileobj is self._wake_reader:
                        self._take_returned(selector)
                    else:
                        self._read(selector, key.data)
                now = time.monotonic()
                if now - swept >= _SWEEP:
                    swept = now
                    self._expire(selector, now)
            for conn in list(self._waiting.values()):
                self._drop(selector, conn, None)

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(64):
            try:
                sock, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    if self._evict(selector):
                        continue
                    logger.warning("emulator_out_of_descriptors")
                    time.sleep(0.05)  # nothing of ours to close: let others release some
                    return
                logger.debug("emulator_accept_failed error=%s", exc.errno)
                return
            if len(self._waiting) + len(self._busy) >= MAX_CONNECTIONS:
                self._evict(selector)
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # a peer that already reset: reading will tell
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._wait(selector, _Connection(sock, time.monotonic() + self.timeouts.header))

    def _wait(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        self._waiting[conn.sock] = conn
        selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _take_returned(self, selector: selectors.BaseSelector) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass
        now = time.monotonic()
        while self._returned:
            conn = self._returned.popleft()
            conn.idle = not conn.buffer
            conn.deadline = now + (self.timeouts.keepalive if conn.idle else self.timeouts.header)
            self._buffered += len(conn.buffer)
            self._wait(selector, conn)
            if conn.buffer:  # a pipelined request may already be whole
                self._advance(selector, conn)

    def _read(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        if self._waiting.get(conn.sock) is not conn:  # dropped earlier in this round
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(selector, conn)
            return
        if conn.idle:
            conn.idle = False
            conn.deadline = time.monotonic() + self.timeouts.header
        conn.buffer += data
        self._buffered += len(data)
        while self._buffered > MAX_BUFFERED and self._evict(selector):
            pass
        if conn.sock in self._waiting:
            self._advance(selector, conn)

    def _advance(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        try:
            framing = frame(conn.buffer)
        except HeadTooLarge as exc:
            self._drop(selector, conn, exc.status)
            return
        if framing is None:
            return
        if framing.end is None:
            if not conn.head_done:
                conn.head_done = True
                conn.deadline = time.monotonic() + self.timeouts.body
            if framing.expects_continue and not conn.continued:
                conn.continued = True
                with contextlib.suppress(OSError):
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self._dispatch(selector, conn, framing)

    def _dispatch(
        self, selector: selectors.BaseSelector, conn: _Connection, framing: Framing
    ) -> None:
        assert framing.end is not None
        self._forget(selector, conn)
        conn.framing = framing
        self._buffered -= len(conn.buffer)  # counted again if the connection comes back
        conn.buffer = conn.buffer[framing.end :]
        conn.head_done = conn.continued = False
        with self._busy_lock:
            self._busy.add(conn.sock)
        try:
            self._jobs.put_nowait(conn)
        except queue.Full:
            with self._busy_lock:
                self._busy.discard(conn.sock)
            self._answer(conn.sock, 503, framing.head)
            self._shut(conn.sock)

    def _expire(self, selector: selectors.BaseSelector, now: float) -> None:
        for conn in [c for c in self._waiting.values() if c.deadline <= now]:
            self._drop(selector, conn, 408 if conn.buffer else None)

    def _evict(self, selector: selectors.BaseSelector) -> bool:
        """
        Drop the connection that has waited longest for a complete request, if any.
        """
        oldest = next(iter(self._waiting.values()), None)
        if oldest is None:
            return False
        self._drop(selector, oldest, 503 if oldest.buffer else None)
        return True

    def _drop(
        self, selector: selectors.BaseSelector, conn: _Connection, status: int | None
    ) -> None:
        """
        Close a waiting connection, after a best-effort answer when it had begun a request.
        """
        self._forget(selector, conn)
        self._buffered -= len(conn.buffer)
        if status is not None:
            self._answer(conn.sock, status, conn.buffer)
        self._shut(conn.sock)

    def _close(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        self._forget(selector, conn)
        self._buffered -= len(conn.buffer)
        conn.sock.close()

    def _forget(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        del self._waiting[conn.sock]
        selector.unregister(conn.sock)

    def _answer(self, sock: socket.socket, status: int, partial: bytes) -> None:
        """
        Send a refusal without blocking the loop, and log it like any answer.
        """
        words = partial.split(b"\n", 1)[0].decode("latin-1").split()
        method, path = (words[0], words[1]) if len(words) >= 2 and status != 414 else ("-", "")
        log_access(method, path, status, None, None)
        text = {408: "Request Timeout", 414: "Request-URI Too Long", 503: "Service Unavailable"}
        response = detail(status, text.get(status, "Request Header Fields Too Large"))
        data = render(response, self.http_date(self._now()), close=True) + response.body
        with contextlib.suppress(OSError):
            sock.send(data)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        sock.close()

    # The workers: one complete request at a time.

    def _work(self) -> None:
        while (conn := self._jobs.get()) is not None:
            keep = not self._stopping.is_set() and self._serve(conn)
            for _ in range(KEEP_SERVES):  # then back in line, behind the queued requests
                if not (keep and not self._stopping.is_set() and self._next_here(conn)):
                    break
                keep = self._serve(conn)
            with self._busy_lock:
                self._busy.discard(conn.sock)
            if not keep or self._stopping.is_set():
                conn.sock.close()
                continue
            conn.sock.setblocking(False)
            self._returned.append(conn)
            self._wake()

    def _next_here(self, conn: _Connection) -> bool:
        """
        Wait ``KEEP_WAIT`` for the next request of a keep-alive client and tell whether it
        arrived whole: then this worker answers it without a trip through the event loop.
        Anything less (a partial request, nothing yet) goes back to the loop.
        """
        if not conn.buffer:
            conn.sock.settimeout(KEEP_WAIT)
            try:
                conn.buffer = conn.sock.recv(65536)
            except (TimeoutError, BlockingIOError, InterruptedError):
                return False
            except OSError:
                conn.buffer = b""
            if not conn.buffer:  # the client closed: the loop will see it
                return False
        try:
            framing = frame(conn.buffer)
        except HeadTooLarge:
            return False
        if framing is None or framing.end is None or framing.error is not None:
            return False
        conn.framing = framing
        conn.buffer = conn.buffer[framing.end :]
        return True

    def _serve(self, conn: _Connection) -> bool:
        """
        Answer one request; return whether the connection may carry another.
        """
        assert conn.framing is not None
        conn.sock.settimeout(self.timeouts.write)
        handler = RequestHandler(conn.sock, conn.framing, self)
        try:
            handler.handle_one_request()
        except (ConnectionError, TimeoutError) as exc:
            logger.debug("emulator_connection_lost error=%s", type(exc).__name__)
            handler.close_connection = True
        except Exception:  # the boundary of one request; the server lives on
            logger.exception("emulator_connection_failed")
            handler.close_connection = True
        if not handler.close_connection:
            return True
        if handler.reset:
            conn.sock.close()  # no shutdown(SHUT_WR): that would send a FIN before the RST
        else:
            self._shut(conn.sock)
        return False
