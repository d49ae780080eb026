"""
The HTTP/1.1 server: a real socket, keep-alive, one thread per connection, faults on the wire.
"""

from __future__ import annotations

import contextlib
import http
import logging
import socket
import socketserver
import struct
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import _paths
from ._control import Control
from ._faults import Fault
from ._messages import Request, Response

logger = logging.getLogger("spatiafi_ops.emulator")

MAX_BODY = 1 << 20
SERVER_HEADER = "uvicorn"
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_RESET_PREFIX = b"HTTP/1.1 200 OK\r\ncontent-type: appl"


class EmulatorServer(ThreadingHTTPServer):
    """
    A threading HTTP server that tracks its connections, so that stopping closes them.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], control: Control | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.control: Control | None = control
        self.keepalive_timeout = 30.0
        self._connections: set[socket.socket] = set()
        self._resets: set[int] = set()
        self._lock = threading.Lock()
        self._date: tuple[int, str] = (0, "")

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; a vanished client is routine.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            logger.debug("emulator_connection_lost error=%s", type(exc).__name__)
        else:
            logger.exception("emulator_connection_failed")

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self._lock:
            self._connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
            reset = id(request) in self._resets
            self._resets.discard(id(request))
        if reset:
            # No shutdown(SHUT_WR): that would send a FIN before the RST we want.
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def mark_reset(self, conn: socket.socket) -> None:
        """
        Make closing *conn* send a TCP RST instead of a FIN (SO_LINGER with zero timeout).
        """
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._lock:
            self._resets.add(id(conn))

    def close_connections(self, wait: float = 1.0) -> None:
        """
        Shut down every open connection and wait briefly for their threads to finish.
        """
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)

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


class _Handler(BaseHTTPRequestHandler):
    """
    Parses one request at a time on a keep-alive connection and writes each response in
    a single ``send`` (with TCP_NODELAY), so that no Nagle/delayed-ACK stall can occur.
    """

    protocol_version = "HTTP/1.1"
    # A malformed request line gets an HTTP/1.1 error with headers, as uvicorn (h11) answers,
    # not the stdlib's bare HTTP/0.9 body.
    default_request_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: EmulatorServer
    _started: float | None = None

    def setup(self) -> None:
        super().setup()
        # An idle keep-alive connection is closed after this long (uvicorn does it after 5 s).
        self.connection.settimeout(self.server.keepalive_timeout)

    def _now(self) -> float:
        control = self.server.control
        return control.state.now() if control is not None else time.time()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The stdlib's error pages (send_error: 400, 414, 431...) take their Date from here:
        # on the emulated clock too, like every other answer.
        return self.server.http_date(self._now() if timestamp is None else timestamp)

    def handle_one_request(self) -> None:
        # A request the stdlib refuses before parsing (414) must not log the previous path.
        self.path = ""
        self._started = None
        super().handle_one_request()

    def parse_request(self) -> bool:
        # The access log's duration runs from here: request line read, headers next.
        self._started = time.perf_counter()
        return super().parse_request()

    def _dispatch(self) -> None:
        control = self.server.control
        if control is None:  # pragma: no cover - the server is always wired before start
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        is_control = path == _paths.CONTROL_PREFIX or path.startswith(_paths.CONTROL_PREFIX + "/")
        service = control.service
        route = ""
        if not is_control:
            route = service.route_key(self.command, path)
            service.state.count(route)
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body(headers)
        if body is None:
            return
        request = Request(self.command, path, query, headers, body)
        if is_control:
            self._send(control.handle(request))
            return
        delay, fault = control.faults.decide(route)
        if delay:
            time.sleep(delay)
        if fault is not None and not fault.after:
            self._inject(fault)
            return
        try:
            response = service.handle(request)
        except Exception:  # the boundary of one request: log it, answer as Starlette would
            logger.exception("emulator_request_failed route=%s", route, extra={"route": route})
            response = Response(500, b"Internal Server Error", "text/plain; charset=utf-8")
        if fault is not None:
            self._inject(fault)
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self, headers: dict[str, str]) -> bytes | None:
        """
        Return the request body, or ``None`` after answering a malformed request.
        """
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length_text = headers.get("content-length", "0").strip()
        if not length_text.isdigit():
            self.close_connection = True
            self._send(Response(400, b'{"detail":"Invalid Content-Length"}'))
            return None
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(Response(413, b'{"detail":"Request Entity Too Large"}'))
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
                if size < 0 or line.startswith((b"+", b"-")):
                    raise ValueError(line)
            except ValueError:
                self.close_connection = True
                self._send(Response(400, b'{"detail":"Invalid chunked body"}'))
                return None
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                self._send(Response(413, b'{"detail":"Request Entity Too Large"}'))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _head(self, response: Response, length: int) -> list[str]:
        lines = [
            f"HTTP/1.1 {response.status} {_PHRASES.get(response.status, 'Unknown')}",
            f"date: {self.date_time_string()}",
            f"server: {SERVER_HEADER}",
            f"content-length: {length}",
        ]
        if response.content_type:
            lines.append(f"content-type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("connection: close")
        return lines

    def _send(self, response: Response, fault: str | None = None) -> None:
        body = b"" if self.command == "HEAD" else response.body
        head = "\r\n".join(self._head(response, len(response.body))) + "\r\n\r\n"
        # Logged before the write: once a client has its answer, the record exists.
        self._log(response.status, fault)
        self.wfile.write(head.encode("latin-1") + body)

    def _inject(self, fault: Fault) -> None:
        """
        Answer with *fault* instead of the real response.
        """
        if fault.kind == "status":
            self._send(fault.response(), fault.kind)
            return
        self.close_connection = True
        self._log(None, fault.kind)
        if fault.kind == "reset":
            self.wfile.write(_RESET_PREFIX)
            self.server.mark_reset(self.connection)
        elif fault.kind == "truncate":
            body = b'{"access_token":"eyJ'
            head = "\r\n".join(self._head(Response(200), 64)) + "\r\n\r\n"
            self.wfile.write(head.encode("latin-1") + body)
            self.server.mark_reset(self.connection)

    def _log(self, status: int | None, fault: str | None = None) -> None:
        """
        Log one access record: the method, the path (never the query, headers or body), the
        status (``None`` when a fault cut the answer), the fault and the duration, both in
        the message and as ``extra`` fields for a structured renderer.
        """
        if not logger.isEnabledFor(logging.INFO):
            return
        started, self._started = self._started, None
        method = self.command or "-"
        path = self.path.partition("?")[0][:200] or "-"
        duration_ms = None if started is None else round((time.perf_counter() - started) * 1e3, 3)
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        outcome = "-" if status is None else str(status)
        if fault is not None:
            fields["fault"] = fault
            outcome += f" (fault: {fault})"
        logger.info("%s %s %s", method, path, outcome, extra=fields)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Called by send_error for requests the stdlib refused itself (400, 414, 431...).
        self._log(int(code) if isinstance(code, int) else None)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http_server " + format, *args)
