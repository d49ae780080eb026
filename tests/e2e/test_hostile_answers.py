"""
Answers a hostile or broken service may give, over real sockets: secrets echoed back in
any escaping, odd expiries, odd client ids and secrets. Each is one typed error (or a
skipped entry), never a leak, a crash or a token served past its end.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from spatiafi_ops import (
    AccessToken,
    AppCredentials,
    RetryPolicy,
    Settings,
    UnexpectedResponse,
    UnusableClient,
    mint_token,
)
from spatiafi_ops._api import (
    BASIC_TOKEN_PATH,
    CLIENTS_PATH,
    TOKEN_PATH,
    create_client,
    list_clients,
)
from spatiafi_ops._http import Deadline, HttpClient
from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, record_secret
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    answer,
    echo_secret,
    escapings,
    json_answer,
    token_body,
)

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
CLIENT = AppCredentials(
    client_id="0b4e6c1a-3d2f-4e5a-8b9c-7d6e5f4a3b2c",
    client_secret="hostile-answers-secret-0123456789abcdef",
)
USER = "u@example.com"
# Quote, backslash, TAB, Latin-1 and beyond: every escaping differs from the raw text.
PASSWORD = 'Pw"\\\tä密-hostile-echo-7f3a9c'
GOOD_ID = "5c1b3a2e-8f7d-4c6b-9a5e-3d2c1b0a9f8e"


def fragments(secret: str, size: int = 8) -> set[str]:
    """Every *size*-character piece of *secret*: what a cut-short echo would show."""
    return {secret[i : i + size] for i in range(max(1, len(secret) - size + 1))}


def leaked(text: str, secret: str) -> set[str]:
    return {piece for piece in fragments(secret) if piece in text}


@pytest.mark.parametrize(
    "kind",
    [
        "raw",
        "base64",
        "urlsafe-base64",
        "url-encoded",
        "basic",
        "structured",
        "json",
        "json-unicode",
        "repr",
    ],
)
# 180: the detail is cut at 200 characters, 14 of them into the echoed secret.
@pytest.mark.parametrize("pad", [0, 180], ids=["whole", "cut-at-200"])
def test_an_echoed_password_never_reaches_stderr_in_any_spelling(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
    runner: RecordingRunner,
    kind: str,
    pad: int,
) -> None:
    """`login` against a server that repeats the password: exit 4, and not even a piece
    of the password (or of the Basic credential) is printed, however the detail is cut."""
    server = serve({BASIC_TOKEN_PATH: echo_secret(kind, pad=pad)})
    record_secret(PASSWORD)
    result = runner.run(
        ["--auth-url", server.url, "login"],
        env={"SPATIAFI_USERNAME": USER, "SPATIAFI_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 4
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    spelled = escapings(PASSWORD).get(kind, PASSWORD)
    assert not leaked(result.stderr, spelled)
    assert not leaked(result.stderr, basic[len(base64.b64encode(USER.encode())) :])


def test_a_password_outside_latin_1_is_sent_as_utf_8(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """RFC 7617 §2.1: the Basic credential is UTF-8 (requests would fail on 密)."""
    from spatiafi_ops._api import user_token

    server = serve({BASIC_TOKEN_PATH: json_answer(200, token_body())})
    http = HttpClient(timeout=5, deadline=Deadline(5), policy=FAST)
    assert user_token(http, server.url, USER, PASSWORD).ttl() > 600
    sent = server.requests[0].headers["authorization"].partition(" ")[2]
    assert base64.b64decode(sent).decode("utf-8") == f"{USER}:{PASSWORD}"


def test_the_emulator_accepts_a_utf_8_password(
    spatiafi_emulator: EmulatorHandle, runner: RecordingRunner
) -> None:
    """End to end: a user whose password is outside Latin-1 logs in (exit 0, not 1)."""
    spatiafi_emulator.create_user("utf8@example.com", PASSWORD)
    result = runner.run(
        ["--auth-url", spatiafi_emulator.url, "login"],
        env={"SPATIAFI_USERNAME": "utf8@example.com", "SPATIAFI_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.stderr


NOW = time.time()


class FromNow(float):
    """An expiry written relative to the moment the test runs (table rows are built early)."""


def resolved(fields: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    return {k: int(now + v) if isinstance(v, FromNow) else v for k, v in fields.items()}


@pytest.mark.parametrize(
    ("fields", "ttl"),
    [
        ({"expires_at": math.nan, "expires_in": None}, None),
        ({"expires_at": math.inf, "expires_in": None}, None),
        ({"expires_at": -math.inf, "expires_in": None}, None),
        ({"expires_at": True, "expires_in": None}, None),
        ({"expires_at": "2030-01-01", "expires_in": None}, None),
        ({"expires_at": int(NOW * 1000), "expires_in": None}, None),
        ({"expires_at": FromNow(10 * 365 * 86400), "expires_in": None}, None),
        ({"expires_at": FromNow(-10), "expires_in": None}, None),
        ({"expires_at": None, "expires_in": 0}, None),
        ({"expires_at": None, "expires_in": -600}, None),
        ({"expires_at": None, "expires_in": math.nan}, None),
        ({"expires_at": None, "expires_in": 10**12}, None),
        ({"expires_at": int(NOW * 1000), "expires_in": 600}, 600),
        ({"expires_at": math.nan, "expires_in": 600}, 600),
        ({"expires_at": math.inf, "expires_in": 600}, 600),
        ({"expires_at": FromNow(-10), "expires_in": 600}, 600),
        ({"expires_at": FromNow(840), "expires_in": 10**12}, 840),
        ({"expires_at": FromNow(840), "expires_in": 300}, 300),
    ],
    ids=[
        "nan",
        "infinity",
        "-infinity",
        "boolean",
        "text",
        "milliseconds",
        "ten-years",
        "expired",
        "in-zero",
        "in-negative",
        "in-nan",
        "in-huge",
        "milliseconds-and-in",
        "nan-and-in",
        "infinity-and-in",
        "expired-and-in",
        "at-and-huge-in",
        "earlier-in-wins",
    ],
)
def test_an_expiry_is_believed_only_within_a_day(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
    fields: dict[str, Any],
    ttl: float | None,
) -> None:
    """expires_at within (now, now + 24 h], else a sane expires_in, else exit 4."""
    server = serve({TOKEN_PATH: json_answer(200, token_body(**resolved(fields)))})
    settings = Settings(auth_url=server.url)
    if ttl is None:
        with pytest.raises(UnexpectedResponse, match="usable expiry"):
            mint_token(CLIENT, settings, policy=FAST)
        return
    assert ttl - 15 < mint_token(CLIENT, settings, policy=FAST).ttl() <= ttl


def test_a_token_with_a_nonsense_expiry_is_never_cached(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
    runner: RecordingRunner,
    clean_environment: dict[str, Any],
) -> None:
    """`token` with an expiry in milliseconds: exit 4, and no cache file to serve later."""
    body = token_body(expires_at=int(time.time() * 1000), expires_in=None)
    server = serve({TOKEN_PATH: json_answer(200, body)})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    result = runner.run(["--auth-url", server.url, "token"], env=env)
    assert result.exit_code == 4
    cache = clean_environment["cache"]
    assert not cache.exists() or not list(cache.rglob("token-*.json"))


@pytest.mark.parametrize(
    "token_type",
    ["bearer\x00", "b" * 200_000, "mac", "Bearer\n"],
    ids=["nul", "200kb", "mac", "lf"],
)
def test_a_token_type_other_than_bearer_is_refused_and_never_cached(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
    runner: RecordingRunner,
    clean_environment: dict[str, Any],
    token_type: str,
) -> None:
    """RFC 6749 §7.1: a NUL or 200 KB token_type is exit 4 and no cache file (it would
    fail `exec` for the token's whole life, after the service was fixed)."""
    server = serve({TOKEN_PATH: json_answer(200, token_body(token_type=token_type))})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    result = runner.run(["--auth-url", server.url, "token"], env=env)
    assert result.exit_code == 4, result.stderr
    assert "type other than Bearer" in result.stderr
    cache = clean_environment["cache"]
    assert not cache.exists() or not list(cache.rglob("token-*.json"))


def test_a_token_type_in_any_case_of_bearer_is_accepted(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """RFC 6749 §5.1: the type is case-insensitive."""
    server = serve({TOKEN_PATH: json_answer(200, token_body(token_type="BeArEr"))})
    token = mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    assert token.token_type == "BeArEr"


@pytest.mark.parametrize(
    "value",
    ["a.b.c\r\nX-Injected: 1", "tok en", "tøken", "a.b.c\x00"],
    ids=["crlf", "space", "non-ascii", "nul"],
)
def test_an_access_token_that_no_header_can_carry_is_refused(
    serve: Callable[[dict[str, Behaviour]], HostileServer], value: str
) -> None:
    """RFC 6750 §2.1 b64token characters only: nothing that could split a header."""
    server = serve({TOKEN_PATH: json_answer(200, token_body(access_token=value))})
    with pytest.raises(UnexpectedResponse, match="bearer token"):
        mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)


def user_access() -> AccessToken:
    return AccessToken(value="user.token.value", token_type="bearer", expires_at=time.time() + 900)


def http() -> HttpClient:
    return HttpClient(timeout=5, deadline=Deadline(10), policy=FAST)


def test_listed_entries_that_are_not_clients_are_skipped(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """Ids outside the UUID pattern, odd shapes and odd dates: left out or cleared, never
    an exception that would wedge every later run."""
    listing = [
        {"client_id": GOOD_ID, "created_at": "2026-01-01T00:00:00Z"},
        {"client_id": "../../etc/passwd"},
        {"client_id": "x" * 5000},
        {"client_id": 42},
        {"client_id": GOOD_ID.upper(), "created_at": 1e300},
        {"client_id": GOOD_ID, "created_at": "\x1b[2J"},
        {"no": "id"},
        "just a string",
        None,
    ]
    server = serve({CLIENTS_PATH: json_answer(200, listing)})
    listed = list_clients(http(), server.url, user_access())
    assert listed is not None
    assert [(c.client_id, c.created_at) for c in listed] == [
        (GOOD_ID, "2026-01-01T00:00:00Z"),
        (GOOD_ID.upper(), None),
        (GOOD_ID, None),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b'{"client_id": "%s", "client_secret": "\xff\xfe"}' % GOOD_ID.encode(),
        json.dumps({"client_id": GOOD_ID, "client_secret": "abc\x1b[2Jdef"}).encode(),
        b'{"client_id": "%s", "client_secret": "abc\\ud800def"}' % GOOD_ID.encode(),
        json.dumps({"client_id": GOOD_ID, "client_secret": "line\nbreak"}).encode(),
        json.dumps({"client_id": GOOD_ID, "client_secret": "s" * 5000}).encode(),
        json.dumps({"client_id": "not-a-uuid", "client_secret": "s" * 43}).encode(),
    ],
    ids=["invalid-utf8", "escape", "lone-surrogate", "newline", "too-long", "bad-id"],
)
def test_a_created_client_that_cannot_be_stored_is_unusable(
    serve: Callable[[dict[str, Behaviour]], HostileServer], body: bytes
) -> None:
    """A secret that is not printable text, or an id that is not a UUID: a client was made
    that the store cannot hold (exit 5, the engine revokes it); a body that is not JSON
    text is a lost answer (exit 4, reconciled)."""
    server = serve({CLIENTS_PATH: answer(201, body, [("Content-Type", "application/json")])})
    expected = UnexpectedResponse if b"\xff" in body else UnusableClient
    with pytest.raises(expected) as caught:
        create_client(http(), server.url, user_access())
    if isinstance(caught.value, UnusableClient):
        assert caught.value.client_id == json.loads(body)["client_id"]
    assert server.count(CLIENTS_PATH) == 1
