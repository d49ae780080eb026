"""
One request on a worker thread: the stdlib parses the head, the routes answer, faults cut.

The event loop (``_server``) has already read the whole request; the handler reads its head
from memory and takes the decoded body from the ``Framing``, so it never waits on a client.
"""

from __future__ import annotations

import http
import io
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from . import _paths
from ._faults import Fault
from ._messages import Request, Response, detail

if TYPE_CHECKING:
    from ._framing import Framing
    from ._server import EmulatorServer

logger = logging.getLogger("spatiafi_ops.emulator")

SERVER_HEADER = "uvicorn"
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_RESET_PREFIX = b"HTTP/1.1 200 OK\r\ncontent-type: appl"


def render(response: Response, date: str, *, close: bool, length: int | None = None) -> bytes:
    """
    Return the status line and headers of *response* (``length`` overrides its body's).
    """
    lines = [
        f"HTTP/1.1 {response.status} {_PHRASES.get(response.status, 'Unknown')}",
        f"date: {date}",
        f"server: {SERVER_HEADER}",
        f"content-length: {len(response.body) if length is None else length}",
    ]
    if response.content_type:
        lines.append(f"content-type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def log_access(
    method: str, path: str, status: int | None, fault: str | None, started: float | None
) -> None:
    """
    Log one access record: the method, the path (never the query, headers or body), the
    status (``None`` when a fault cut the answer), the fault and the duration, both in the
    message and as ``extra`` fields for a structured renderer.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    path = path.partition("?")[0][:200] or "-"
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1e3, 3)
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    outcome = "-" if status is None else str(status)
    if fault is not None:
        fields["fault"] = fault
        outcome += f" (fault: {fault})"
    logger.info("%s %s %s", method, path, outcome, extra=fields)


class _SocketWriter:
    """
    ``wfile`` for the stdlib's error pages: every write goes straight to the socket.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> int:
        self._sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass


class RequestHandler(BaseHTTPRequestHandler):
    """
    Answers one buffered request and writes each response in a single ``send`` (with
    TCP_NODELAY on the socket), so that no Nagle/delayed-ACK stall can occur.

    After ``handle_one_request()``, ``close_connection`` says whether the connection may
    serve another request and ``reset`` whether closing it must send a TCP RST.
    """

    protocol_version = "HTTP/1.1"
    # A malformed request line gets an HTTP/1.1 error with headers, as uvicorn (h11) answers,
    # not the stdlib's bare HTTP/0.9 body.
    default_request_version = "HTTP/1.1"

    def __init__(  # the stdlib's __init__ would read from the socket; this one never does
        self, sock: socket.socket, framing: Framing, server: EmulatorServer
    ) -> None:
        self.request = self.connection = sock
        self.client_address = ("", 0)
        self.emulator = server
        self.framing = framing
        self.rfile = io.BytesIO(framing.head)
        self.wfile = _SocketWriter(sock)  # type: ignore[assignment]
        self.reset = False
        self.path = ""
        self._started: float | None = None

    def _now(self) -> float:
        control = self.emulator.control
        return control.state.now() if control is not None else time.time()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The stdlib's error pages (send_error: 400, 414, 431...) take their Date from here:
        # on the emulated clock too, like every other answer.
        return self.emulator.http_date(self._now() if timestamp is None else timestamp)

    def parse_request(self) -> bool:
        # The access log's duration runs from here: request line read, headers next.
        self._started = time.perf_counter()
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        # The event loop sent "100 Continue" while the body was still to come.
        return True

    def _dispatch(self) -> None:
        control = self.emulator.control
        if control is None:  # pragma: no cover - the server is always wired before start
            self.close_connection = True
            return
        if self.framing.error is not None:
            self.close_connection = True
            self._send(detail(self.framing.error, self.framing.detail))
            return
        path, _, query = self.path.partition("?")
        is_control = path == _paths.CONTROL_PREFIX or path.startswith(_paths.CONTROL_PREFIX + "/")
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, path, query, headers, self.framing.body)
        if is_control:
            self._send(control.handle(request, self.connection.getsockname()))
            return
        service = control.service
        route = service.route_key(self.command, path)
        service.state.count(route)
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

    def _send(self, response: Response, fault: str | None = None) -> None:
        body = b"" if self.command == "HEAD" else response.body
        head = render(
            response,
            self.date_time_string(),
            close=self.close_connection,
            length=len(response.body),
        )
        # Logged before the write: once a client has its answer, the record exists.
        self._log(response.status, fault)
        self.wfile.write(head + body)

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
            self._mark_reset()
        elif fault.kind == "truncate":
            head = render(Response(200), self.date_time_string(), close=True, length=64)
            self.wfile.write(head + b'{"access_token":"eyJ')
            self._mark_reset()

    def _mark_reset(self) -> None:
        """
        Make closing the connection send a TCP RST instead of a FIN (SO_LINGER, timeout 0).
        """
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.reset = True

    def _log(self, status: int | None, fault: str | None = None) -> None:
        started, self._started = self._started, None
        log_access(self.command or "-", self.path, status, fault, started)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Called by send_error for requests the stdlib refused itself (400, 414, 431...).
        self._log(int(code) if isinstance(code, int) else None)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http_server " + format, *args)
