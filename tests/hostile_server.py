"""
A hostile HTTP server on 127.0.0.1, on plain sockets: it trickles headers or bodies, sends
endless or huge bodies and compression bombs, echoes what it was sent in every escaping,
answers odd expiries and ids, and keeps a clock of its own (its Date header and its
checks of assertion times), so that each test meets the service it needs.

Shared by the tests and by `make proof` (proof/_hostile_service.py).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlsplit


class Request(NamedTuple):
    """
    One request as received: method, target, path, lower-cased headers, body.
    """

    method: str
    target: str
    path: str
    headers: dict[str, str]
    body: bytes


class Peer:
    """
    The client end of one connection: what to write, and whether to keep going.
    """

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """
        Write *data*; return False once the client has hung up or the server stops.
        """
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def pause(self, seconds: float) -> bool:
        """
        Wait *seconds*; return False if the server stops meanwhile.
        """
        return not self.stopping.wait(seconds)


Behaviour = Callable[[Request, Peer], None]


def http_date(offset: float = 0.0) -> str:
    """
    Return the Date header value of a clock *offset* seconds from ours.
    """
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def head(
    status: int, headers: list[tuple[str, str]] | None = None, *, date_offset: float | None = 0.0
) -> bytes:
    """
    Return a status line and headers (with Date unless *date_offset* is None).
    """
    lines = [f"HTTP/1.1 {status} Hostile", "Connection: close"]
    if date_offset is not None:
        lines.append(f"Date: {http_date(date_offset)}")
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def answer(
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    *,
    date_offset: float | None = 0.0,
) -> Behaviour:
    """
    Answer with a fixed body and a Content-Length.
    """

    def behave(_request: Request, peer: Peer) -> None:
        extra = [("Content-Length", str(len(body))), *(headers or [])]
        peer.send(head(status, extra, date_offset=date_offset) + body)

    return behave


def json_answer(
    status: int,
    data: Any,
    headers: list[tuple[str, str]] | None = None,
    *,
    date_offset: float | None = 0.0,
) -> Behaviour:
    """
    Answer JSON (``json.dumps`` with its defaults: NaN and Infinity written bare).
    """
    content = [("Content-Type", "application/json"), *(headers or [])]
    return answer(status, json.dumps(data).encode(), content, date_offset=date_offset)


def token_body(**fields: Any) -> dict[str, Any]:
    """
    Return a token response; *fields* replace or add to a sane one (None drops a field).
    """
    body: dict[str, Any] = {
        "access_token": "hostile.header.signature",
        "token_type": "bearer",
        "expires_at": int(time.time()) + 840,
        "expires_in": 840,
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def trickle_headers(interval: float, lines: int, then: bytes) -> Behaviour:
    """
    Send the status line, then one header line per *interval*, *lines* of them, then
    *then* (the rest of a valid answer): a client without a wall clock gets it in the end.
    """

    def behave(_request: Request, peer: Peer) -> None:
        if not peer.send(b"HTTP/1.1 200 OK\r\n"):
            return
        for number in range(lines):
            if not (peer.pause(interval) and peer.send(f"X-Slow-{number}: 1\r\n".encode())):
                return
        peer.send(then)

    return behave


def trickle_body(interval: float, body: bytes) -> Behaviour:
    """
    Send complete headers at once, then *body* one byte per *interval*.
    """

    def behave(_request: Request, peer: Peer) -> None:
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if not peer.send(head(200, headers)):
            return
        for index in range(len(body)):
            if not (peer.pause(interval) and peer.send(body[index : index + 1])):
                return

    return behave


def chunked(prefix: bytes, filler: bytes, repeat: int | None, suffix: bytes) -> Behaviour:
    """
    Send a chunked body: *prefix*, *filler* *repeat* times (for ever if None), *suffix*.
    """

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def behave(_request: Request, peer: Peer) -> None:
        headers = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        if not peer.send(head(200, headers) + chunk(prefix)):
            return
        count = 0
        while repeat is None or count < repeat:
            if not peer.send(chunk(filler)):
                return
            count += 1
        peer.send(chunk(suffix) + b"0\r\n\r\n")

    return behave


def huge_body(size: int, prefix: bytes = b'{"access_token": "x", "pad": "') -> Behaviour:
    """
    Announce *size* bytes and send them (a JSON string of zeros) until the client leaves.
    """
    block = b"0" * (1 << 16)

    def behave(_request: Request, peer: Peer) -> None:
        headers = [("Content-Type", "application/json"), ("Content-Length", str(size))]
        if not peer.send(head(200, headers) + prefix):
            return
        left = size - len(prefix)
        while left > 0 and peer.send(block[: min(left, len(block))]):
            left -= len(block)

    return behave


def gzip_of(prefix: bytes, filler: bytes, repeat: int, suffix: bytes) -> bytes:
    """
    Return the gzip (RFC 1952) of *prefix*, *filler* *repeat* times and *suffix*.

    The filler is deflated once after a full flush and its block repeated (each starts
    from an empty history), so a bomb of gigabytes is built in about a second.
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]
    parts += [packer.compress(prefix), packer.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(prefix)
    if repeat:
        parts += [packer.compress(filler) + packer.flush(zlib.Z_FULL_FLUSH)] * repeat
        for _ in range(repeat):
            crc = zlib.crc32(filler, crc)
    parts += [packer.compress(suffix), packer.flush()]
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(filler) * repeat + len(suffix)
    parts.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def compressed(body: bytes, coding: str = "gzip") -> Behaviour:
    """
    Answer *body* (already compressed) under ``Content-Encoding: coding``, asked or not.
    """
    headers = [("Content-Type", "application/json"), ("Content-Encoding", coding)]
    return answer(200, body, headers)


def escapings(text: str) -> dict[str, str]:
    """
    Return *text* spelled every way a careless server might echo it, by name.
    """
    raw = text.encode("utf-8", "surrogatepass")
    return {
        "raw": text,
        "json": json.dumps(text)[1:-1],
        "json-unicode": json.dumps(text, ensure_ascii=False)[1:-1],
        "base64": base64.b64encode(raw).decode(),
        "urlsafe-base64": base64.urlsafe_b64encode(raw).decode(),
        "url-encoded": quote(text, safe=""),
        "repr": repr(text),
    }


def basic_password(request: Request) -> str:
    """
    Return the password of the request's ``Authorization: Basic`` header ("" if none).
    """
    credential = request.headers.get("authorization", "").partition(" ")[2]
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except ValueError:
        return ""
    return decoded.partition(":")[2]


def echo_secret(kind: str, *, pad: int = 0, status: int = 400) -> Behaviour:
    """
    Answer an error whose description repeats the Basic password (or, for kind "basic",
    the whole header; for "structured", a FastAPI list) after *pad* characters, with
    terminal escape sequences around it, in its Content-Type too.
    """

    def behave(request: Request, peer: Peer) -> None:
        password = basic_password(request)
        authorization = request.headers.get("authorization", "")
        filler = "~" * pad  # no test secret is made of tildes
        if kind == "structured":
            data: dict[str, Any] = {"detail": [{"loc": ["header"], "msg": filler + password}]}
        else:
            echoed = authorization if kind == "basic" else escapings(password)[kind]
            detail = f"\x1b[31m{filler}{echoed}\x1b]0;owned\x07"
            data = {"error": "invalid_request", "error_description": detail}
        body = json.dumps(data).encode()
        headers = [
            ("Content-Type", f"application/json; echo=\x1b[2J{authorization}"),
            ("Content-Length", str(len(body))),
        ]
        peer.send(head(status, headers) + body)

    return behave


def assertion_claims(request: Request) -> dict[str, Any]:
    """
    Return the (unverified) claims of the client assertion a token request carries.
    """
    form = parse_qs(request.body.decode("utf-8", "replace"))
    assertion = (form.get("client_assertion") or [""])[0]
    payload = assertion.split(".")[1] if assertion.count(".") == 2 else ""
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def skewed_token_route(
    offset: float, *, leeway: float = 30.0, reason: str | None = None, dated: bool = True
) -> Behaviour:
    """
    A token route on a clock *offset* seconds from ours (its Date header says so, unless
    not *dated*) that refuses assertions whose iat is in its future or whose exp is in its
    past, saying so; with a *reason* it refuses every assertion with that description.
    """

    def behave(request: Request, peer: Peer) -> None:
        now = time.time() + offset
        claims = assertion_claims(request)
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        refusal = reason
        if refusal is None and (not isinstance(iat, int | float) or iat > now + leeway):
            refusal = "client_assertion iat is in the future"
        elif refusal is None and (not isinstance(exp, int | float) or exp <= now - leeway):
            refusal = "client_assertion has expired"
        date_offset = offset if dated else None
        if refusal is not None:
            error = {"error": "invalid_client", "error_description": refusal}
            json_answer(401, error, date_offset=date_offset)(request, peer)
            return
        body = token_body(expires_at=int(now) + 840, expires_in=None)
        json_answer(200, body, date_offset=date_offset)(request, peer)

    return behave


def by_method(behaviours: dict[str, Behaviour]) -> Behaviour:
    """
    Answer each method of one path with its own behaviour (405 for the others).
    """

    def behave(request: Request, peer: Peer) -> None:
        chosen = behaviours.get(request.method)
        if chosen is None:
            json_answer(405, {"detail": "Method Not Allowed"})(request, peer)
            return
        chosen(request, peer)

    return behave


def not_found(request: Request, peer: Peer) -> None:
    """
    FastAPI's answer to an unknown path.
    """
    json_answer(404, {"detail": "Not Found"})(request, peer)


class HostileServer:
    """
    Listens on 127.0.0.1 and answers each request with its path's behaviour; records
    every request. One request per connection (``Connection: close``).
    """

    def __init__(
        self, routes: dict[str, Behaviour] | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.routes: dict[str, Behaviour] = dict(routes or {})
        self._tls = tls
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        """
        Return how many requests reached *path*.
        """
        with self._lock:
            return sum(request.path == path for request in self.requests)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _read_request(self, stream: Any) -> Request | None:
        line = stream.readline(65537).decode("latin-1").strip()
        if not line:
            return None
        method, target = [*line.split(" "), "", ""][:2]
        headers: dict[str, str] = {}
        while True:
            header = stream.readline(65537).decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = stream.read(int(headers.get("content-length") or 0))
        return Request(method, target, urlsplit(target).path, headers, body)

    def _serve(self, raw: socket.socket) -> None:
        client = raw
        try:
            if self._tls is not None:
                client.settimeout(5.0)
                client = self._tls.wrap_socket(client, server_side=True)
                client.settimeout(None)
            with client, client.makefile("rb") as stream:
                request = self._read_request(stream)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                peer = Peer(client, self._stopping)
                self.routes.get(request.path, not_found)(request, peer)
        except OSError:
            return  # the client hung up first
        finally:
            raw.close()
            with self._lock:
                self._clients.discard(raw)

    def close(self) -> None:
        """
        Stop answering: every trickle and endless body ends.
        """
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
