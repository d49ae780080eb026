"""
The bounded transport against a hostile server over real sockets: every answer ends within
the request's wall-clock budget and within the body cap, compressed or not, and nothing it
sends becomes a crash (exit 1) or a bogus token.

Each hostile answer here would, without the bound, eventually succeed (a trickle that ends
in a valid token, a padded valid token): a test fails if the bound does not hold.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from spatiafi_ops import (
    AppCredentials,
    DeadlineExceeded,
    RequestRejected,
    RetryPolicy,
    ServiceError,
    Settings,
    UnexpectedResponse,
    mint_token,
)
from spatiafi_ops._api import TOKEN_PATH
from tests.conftest import RecordingRunner, final_error
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    answer,
    chunked,
    compressed,
    gzip_of,
    head,
    huge_body,
    json_answer,
    token_body,
    trickle_body,
    trickle_headers,
)

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
CLIENT = AppCredentials(
    client_id="4f0c7d52-9a51-4c43-9a0e-0d3c1b0c4d11",
    client_secret="bounded-transport-secret-0123456789abcdef",
)
# expires_in only: an absolute expires_at fixed at import would age while the suite runs.
VALID = json.dumps(token_body(expires_at=None)).encode()
# A valid token whose JSON is padded with whitespace to PADDED_MIB MiB: parsed whole, it
# would be a token; the cap must stop it first.
PADDED_MIB = 48
PAD_PREFIX = VALID[:-1]
PAD_FILLER = b" " * (1 << 20)


def mint(url: str, *, timeout: float = 10.0, deadline: float = 30.0) -> float:
    """Mint against *url*; return the token's TTL."""
    settings = Settings(auth_url=url, timeout=timeout, deadline=deadline)
    return mint_token(CLIENT, settings, policy=FAST).ttl()


def valid_rest() -> bytes:
    """The rest of a valid answer after its status line."""
    return (
        head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(VALID)))])[
            len(b"HTTP/1.1 200 Hostile\r\n") :
        ]
        + VALID
    )


def test_headers_trickled_a_line_at_a_time_end_at_the_deadline(
    serve: Callable[..., HostileServer],
) -> None:
    """40 header lines at 0.5 s each would end in a valid token after 20 s; the 1.5 s
    deadline ends the request first (per-read timeouts never would)."""
    server = serve({TOKEN_PATH: trickle_headers(0.5, 40, valid_rest())})
    with pytest.raises(DeadlineExceeded, match="timed out waiting for"):
        mint(server.url, deadline=1.5)
    assert server.count(TOKEN_PATH) == 1


def test_a_body_trickled_a_byte_at_a_time_ends_at_the_request_timeout(
    serve: Callable[..., HostileServer],
) -> None:
    """Each request ends at --timeout (1 s) and is retried until the deadline: more than
    one attempt, and no token although the body would complete in the end."""
    server = serve({TOKEN_PATH: trickle_body(0.3, VALID)})
    with pytest.raises(DeadlineExceeded, match="gave up after"):
        mint(server.url, timeout=1.0, deadline=3.0)
    assert server.count(TOKEN_PATH) >= 2


def test_the_cli_reports_a_trickle_in_one_sentence_with_exit_4(
    serve: Callable[..., HostileServer], runner: RecordingRunner
) -> None:
    """`token` against a trickling server: exit 4, one Error line, no traceback."""
    server = serve({TOKEN_PATH: trickle_headers(0.5, 40, valid_rest())})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    result = runner.run(["--auth-url", server.url, "--deadline", "1", "token"], env=env)
    assert result.exit_code == 4
    assert "deadline" in final_error(result.stderr)["message"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "behaviour",
    [
        chunked(PAD_PREFIX, PAD_FILLER, PADDED_MIB, b"}"),
        chunked(PAD_PREFIX, PAD_FILLER, None, b"}"),
        huge_body(3 << 30),
    ],
    ids=["long-chunked", "endless-chunked", "3GiB-content-length"],
)
def test_bodies_over_the_cap_are_not_read_to_their_end(
    serve: Callable[..., HostileServer], behaviour: Behaviour
) -> None:
    """A body past 1 MiB stops the read at the cap: UnexpectedResponse, once."""
    server = serve({TOKEN_PATH: behaviour})
    with pytest.raises(UnexpectedResponse, match="body over 1024 KiB"):
        mint(server.url)
    assert server.count(TOKEN_PATH) == 1
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_a_gzip_bomb_is_capped_after_decompression(serve: Callable[..., HostileServer]) -> None:
    """A small gzip that inflates to a valid 48 MiB token is stopped at 1 MiB inflated."""
    bomb = gzip_of(PAD_PREFIX, PAD_FILLER, PADDED_MIB, b"}")
    assert len(bomb) < 1 << 20  # it is the inflated size that must be capped
    server = serve({TOKEN_PATH: compressed(bomb, "gzip")})
    with pytest.raises(UnexpectedResponse, match="body over 1024 KiB"):
        mint(server.url)


@pytest.mark.parametrize(
    ("body", "coding"),
    [(gzip_of(VALID, b"", 0, b""), "gzip"), (zlib.compress(VALID), "deflate")],
    ids=["gzip", "deflate"],
)
def test_a_small_compressed_answer_sent_unasked_is_still_read(
    serve: Callable[..., HostileServer], body: bytes, coding: str
) -> None:
    """gzip or deflate under the cap is decoded: a proxy that compresses anyway works."""
    server = serve({TOKEN_PATH: compressed(body, coding)})
    assert mint(server.url) > 600


@pytest.mark.parametrize(
    ("coding", "body", "fragment"),
    [("br", VALID, "content coding"), ("gzip", b"not gzip at all", "does not decompress")],
)
def test_a_coding_that_cannot_be_read_is_an_unexpected_response(
    serve: Callable[..., HostileServer], coding: str, body: bytes, fragment: str
) -> None:
    """An unknown coding, or a body that is not what its coding says: exit 4, not 1."""
    server = serve({TOKEN_PATH: compressed(body, coding)})
    with pytest.raises(UnexpectedResponse, match=fragment):
        mint(server.url)


@pytest.mark.parametrize(
    ("behaviour", "error", "fragment"),
    [
        (answer(200, b"[" * 200_000), UnexpectedResponse, "non-JSON"),
        (answer(200, b'{"a":' * 100_000), UnexpectedResponse, "non-JSON"),
        (answer(400, b'{"detail": ' + b"[" * 200_000), RequestRejected, "non-JSON"),
        (
            json_answer(422, {"detail": [[[[[[[[[[[["deep"]]]]]]]]]]]]}),
            RequestRejected,
            "HTTP 422",
        ),
    ],
    ids=["deep-array", "deep-object", "deep-error-body", "deep-422-detail"],
)
def test_deeply_nested_json_is_an_unexpected_answer_not_a_crash(
    serve: Callable[..., HostileServer],
    behaviour: Behaviour,
    error: type[ServiceError],
    fragment: str,
) -> None:
    """JSON nested past the parser's recursion limit is input like any other."""
    server = serve({TOKEN_PATH: behaviour})
    with pytest.raises(error, match=fragment):
        mint(server.url)


def test_a_redirect_with_an_escape_sequence_in_location_is_printed_harmlessly(
    serve: Callable[..., HostileServer], runner: RecordingRunner
) -> None:
    """Header values from the network reach the terminal without control characters."""
    location = "http://127.0.0.1:9/\x1b]0;owned\x07\x1b[2J"
    server = serve({TOKEN_PATH: answer(307, b"", [("Location", location)])})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    result = runner.run(["--auth-url", server.url, "token", "--no-cache"], env=env)
    assert result.exit_code == 4
    assert "redirected (HTTP 307)" in result.stderr
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr


@pytest.fixture(name="tls", scope="module")
def _tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt"),
            *("ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"),
            *("-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(where / "cert.pem", where / "key.pem")
    return context, where / "cert.pem"


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_variables_are_honoured(
    serve: Callable[..., HostileServer],
    tls: tuple[ssl.SSLContext, Path],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    """https:// to a self-signed service fails verification unless its CA bundle is named."""
    context, cert = tls
    server = serve({TOKEN_PATH: json_answer(200, token_body())}, tls=context)
    with pytest.raises(ServiceError, match="TLS verification"):
        mint(server.url)
    monkeypatch.setenv(variable, str(cert))
    assert mint(server.url) > 600


def test_a_trickle_over_tls_ends_at_the_deadline(
    serve: Callable[..., HostileServer],
    tls: tuple[ssl.SSLContext, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watchdog shuts a TLS connection down as it does a plain one."""
    context, cert = tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server = serve({TOKEN_PATH: trickle_body(0.3, VALID)}, tls=context)
    with pytest.raises(DeadlineExceeded):
        mint(server.url, deadline=1.5)
