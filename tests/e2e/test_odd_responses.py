"""
Answers the real service should never give, from a canned local server: each one is a
clear error, never a crash, a bogus token, or credentials sent somewhere else.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from spatiafi_ops import AppCredentials, RetryPolicy, Settings, UnexpectedResponse, mint_token
from spatiafi_ops._api import user_token
from spatiafi_ops._http import Deadline, HttpClient
from tests.conftest import RecordingRunner

Responder = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]
FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
CLIENT = AppCredentials(client_id="c-1", client_secret="odd-responses-secret-value-0123456789")


class Server:
    """A 127.0.0.1 server answering every request with *responder*'s reply; counts requests."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.requests.append(f"{self.command} {self.path}")
                status, headers, body = responder(self)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *_args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(name="serve")
def _serve() -> Iterator[Callable[[Responder], Server]]:
    servers: list[Server] = []

    def start(responder: Responder) -> Server:
        servers.append(Server(responder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def json_body(data: object) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (json_body({"access_token": 12345, "expires_at": 2_000_000_000}), "without access_token"),
        (json_body({"access_token": "", "expires_at": 2_000_000_000}), "without access_token"),
        (json_body({"access_token": "a.b.c", "expires_at": "soon"}), "usable expiry"),
        (json_body({"access_token": "a.b.c"}), "usable expiry"),
        ((200, {"Content-Type": "application/json"}, b'{"access_token": "\xff"}'), "non-JSON"),
        ((200, {"Content-Type": "text/plain"}, b"access_token=a.b.c"), "non-JSON"),
    ],
    ids=["number", "empty", "expires-soon", "no-expiry", "invalid-utf8", "form-encoded"],
)
def test_a_malformed_token_answer_is_an_error(
    serve: Callable[[Responder], Server], reply: tuple[int, dict[str, str], bytes], fragment: str
) -> None:
    """A 200 that is not a usable token raises UnexpectedResponse after one request."""
    server = serve(lambda _handler: reply)
    with pytest.raises(UnexpectedResponse, match=fragment):
        mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    assert len(server.requests) == 1


def test_an_expiry_given_only_as_expires_in_is_accepted(
    serve: Callable[[Responder], Server],
) -> None:
    """expires_in alone is enough to know when the token ends."""
    server = serve(lambda _handler: json_body({"access_token": "a.b.c", "expires_in": 600}))
    assert 500 < mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST).ttl() <= 600


def test_a_redirect_is_never_followed_with_the_assertion(
    serve: Callable[[Responder], Server],
) -> None:
    """A 307 to another host is an error; the other host never sees the request."""
    elsewhere = serve(lambda _handler: json_body({"access_token": "x.y.z", "expires_in": 600}))
    redirecting = serve(lambda _handler: (307, {"Location": elsewhere.url + "/steal"}, b""))
    with pytest.raises(UnexpectedResponse, match="redirects are not followed"):
        mint_token(CLIENT, Settings(auth_url=redirecting.url), policy=FAST)
    assert elsewhere.requests == []


def test_basic_credentials_echoed_by_a_server_are_scrubbed_from_errors(
    serve: Callable[[Responder], Server], runner: RecordingRunner
) -> None:
    """A server that echoes the Authorization header in its error never makes us print it."""

    def echo(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        detail = f"bad header {handler.headers.get('Authorization')}"
        return 400, {"Content-Type": "application/json"}, json.dumps({"detail": detail}).encode()

    server = serve(echo)
    password = "echoed-password-value"
    result = runner.run(
        ["--auth-url", server.url, "login"],
        env={"SPATIAFI_USERNAME": "someone@example.com", "SPATIAFI_PASSWORD": password},
    )
    assert result.exit_code == 4
    basic = base64.b64encode(f"someone@example.com:{password}".encode()).decode()
    assert basic.rstrip("=") not in result.stderr
    assert "bad header Basic **redacted**" in result.stderr


def test_a_user_token_without_expiry_is_an_error(serve: Callable[[Responder], Server]) -> None:
    """The Basic route's answer is validated like the token route's."""
    server = serve(lambda _handler: json_body({"access_token": "a.b.c", "expires_at": "later"}))
    http = HttpClient(timeout=5, deadline=Deadline(5), policy=FAST)
    with pytest.raises(UnexpectedResponse, match="usable expiry"):
        user_token(http, server.url, "u@example.com", "password-value")
