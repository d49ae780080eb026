"""
The servers of `make proof`: in-process emulators with a secret tap, a canned-response
server and a hostile echo server, all on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from proof._common import Recorder
from spatiafi_ops.emulator import Emulator, EmulatorHandle

# (status, content type, body, extra headers) per path
Canned = dict[str, tuple[int, str, bytes, tuple[tuple[str, str], ...]]]


class SecretTap:
    """
    Records every secret that crosses an emulator: passwords, tokens, client secrets and
    assertions, and which client got which secret; counts answers that were not faults.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.client_secrets: dict[str, str] = {}
        self.injected = 0
        self._lock = threading.Lock()

    def install(self, emulator: Emulator) -> None:
        service = emulator.service
        original = service.handle

        def handle(request: Any) -> Any:
            response = original(request)
            self.observe(request, response)
            return response

        service.handle = handle  # type: ignore[method-assign]
        decide = emulator.faults.decide

        def counted(route: str) -> Any:
            delay, fault = decide(route)
            if fault is not None:
                with self._lock:
                    self.injected += 1
            return delay, fault

        emulator.faults.decide = counted  # type: ignore[method-assign]

    def observe(self, request: Any, response: Any) -> None:
        add = self.recorder.add_secrets
        scheme, _, credential = str(request.headers.get("authorization", "")).partition(" ")
        if scheme.lower() == "bearer":
            add([credential.strip()], "bearer token")
        elif scheme.lower() == "basic":
            add([credential.strip()], "Basic credential (base64 of email:password)")
            with contextlib.suppress(ValueError):
                add([base64.b64decode(credential).decode().partition(":")[2]], "password")
        with contextlib.suppress(UnicodeDecodeError):
            form = parse_qs(request.body.decode())
            add(form.get("client_assertion", []), "client assertion")
            add(form.get("client_secret", []) + form.get("password", []), "form secret")
        body: Any = None
        with contextlib.suppress(ValueError):
            body = json.loads(response.body) if response.body else None
        if isinstance(body, dict):
            add([body.get("access_token")], "access token")
            add([body.get("client_secret")], "client secret")
            if body.get("client_id") and body.get("client_secret"):
                with self._lock:
                    self.client_secrets[str(body["client_id"])] = str(body["client_secret"])


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


EMULATOR_LOG: list[str] = []


@contextlib.contextmanager
def emulator(recorder: Recorder, **overrides: Any) -> Iterator[tuple[EmulatorHandle, SecretTap]]:
    """
    Run an in-process emulator on 127.0.0.1 with a secret tap; its access log is kept.
    """
    logger = logging.getLogger("spatiafi_ops.emulator")
    if not logger.handlers:
        logger.addHandler(_ListHandler(EMULATOR_LOG))
        logger.setLevel(logging.INFO)
        logger.propagate = False
    instance = Emulator(**overrides)
    tap = SecretTap(recorder)
    tap.install(instance)
    handle = instance.start()
    try:
        yield handle, tap
    finally:
        instance.stop()


class _CannedHandler(BaseHTTPRequestHandler):
    server: CannedServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.partition("?")[0]
        with self.server.lock:
            self.server.hits[path] = self.server.hits.get(path, 0) + 1
        status, content_type, body, headers = self.server.routes.get(
            path, (404, "application/json", b'{"detail":"Not Found"}', ())
        )
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


class CannedServer(ThreadingHTTPServer):
    """
    A stdlib server on 127.0.0.1 answering fixed responses per path, counting hits.
    """

    daemon_threads = True

    def __init__(self, routes: Canned) -> None:
        super().__init__(("127.0.0.1", 0), _CannedHandler)
        self.routes = routes
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def canned(routes: Canned) -> Iterator[CannedServer]:
    server = CannedServer(routes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class _EchoHandler(BaseHTTPRequestHandler):
    """
    A hostile or careless server: its error bodies repeat the secrets it was sent.
    """

    server: EchoServer

    def _reply(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        assertion = (form.get("client_assertion") or [""])[0]
        self.server.recorder.add_secrets([assertion], "client assertion")
        self._reply(
            401,
            {"error": "invalid_client", "error_description": f"assertion {assertion} rejected"},
        )

    def do_GET(self) -> None:
        authorization = self.headers.get("authorization", "")
        credential = authorization.partition(" ")[2]
        with contextlib.suppress(ValueError):
            password = base64.b64decode(credential).decode().partition(":")[2]
            self.server.recorder.add_secrets(
                [credential], "Basic credential (base64 of email:password)"
            )
            self.server.recorder.add_secrets([password], "password")
        self._reply(400, {"detail": f"LOGIN_BAD_CREDENTIALS for {authorization}"})

    def log_message(self, format: str, *args: object) -> None:
        return


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.recorder = recorder


@contextlib.contextmanager
def echo_server(recorder: Recorder) -> Iterator[str]:
    server = EchoServer(recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
