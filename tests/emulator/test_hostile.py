"""
Hostile and odd requests: the emulator answers each with a 4xx (never a 500, a hang or a dead
server), and users whose passwords are outside Latin-1 can log in.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorHandle

from .emulator_testlib import (
    ASSERTION_TYPE,
    JSON,
    b64url,
    b64url_json,
    claims_for,
    mint,
    raw_exchange,
)

NON_LATIN1_PASSWORD = "пароль-密码-🔑"


def _basic_utf8(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def test_a_non_latin1_password_logs_in_with_utf8_basic(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Basic credentials are UTF-8 (RFC 7617 §2.1 charset="UTF-8"): a Cyrillic/CJK/emoji
    password works; the same password in another encoding does not.
    """
    emulator.create_user("ким@example.com", NON_LATIN1_PASSWORD)
    good = {"Authorization": _basic_utf8("ким@example.com", NON_LATIN1_PASSWORD)}
    response = http.get(emulator.basic_url, headers=good, timeout=10)
    assert response.status_code == 200, response.text
    utf16 = "ким@example.com:" + NON_LATIN1_PASSWORD
    other = {"Authorization": "Basic " + base64.b64encode(utf16.encode("utf-16")).decode()}
    assert http.get(emulator.basic_url, headers=other, timeout=10).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        b"Basic \xff\xfe\xfd",  # raw bytes outside ASCII
        b"Basic " + base64.b64encode("null@example.com:pässword".encode("latin-1")),
        b"Basic " + base64.b64encode(b"no-colon"),
        b"Basic ====",
        b"Basic",
        b"Bearer",
    ],
)
def test_undecodable_basic_headers_are_401(emulator: EmulatorHandle, authorization: bytes) -> None:
    """
    Whatever the bytes, a Basic header the route cannot read is 401 Not authenticated.
    """
    reply = raw_exchange(
        emulator.url,
        b"GET /api/v1/auth/jwt/token/basic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 401 Unauthorized\r\n"), reply[:200]
    assert reply.endswith(b'{"detail":"Not authenticated"}')


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"b" * 70000 + b"\r\n\r\n", b"431"),
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET / HTTP/1.x\r\n\r\n", b"400"),
        (b"GET / HTTP/3.0\r\n\r\n", b"505"),
        (b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", b"413"),
        (b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (
            b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
            b"413",
        ),
        (
            b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"400",
        ),
        (b"GET /\x00\x1b[31m HTTP/1.1\r\nConnection: close\r\n\r\n", b"404"),
        (b"GET /" + b"%ff" * 5000 + b" HTTP/1.1\r\nConnection: close\r\n\r\n", b"404"),
    ],
)
def test_odd_requests_get_a_4xx_and_the_server_lives_on(
    emulator: EmulatorHandle, http: requests.Session, request_bytes: bytes, status: bytes
) -> None:
    """
    Oversized lines, too many headers, huge or invalid bodies, odd versions and paths.
    """
    reply = raw_exchange(emulator.url, request_bytes)
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:200]
    assert http.get(emulator.basic_url, timeout=10).status_code == 401


def test_token_route_form_oddities(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A body that is not UTF-8, a deeply nested assertion payload and thousands of fields:
    each is a clean 400/401 OAuth error.
    """
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    response = http.post(emulator.token_url, data=b"grant_type=\xff\xfe", headers=form_type)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    nested = b64url(b"[" * 3000 + b"]" * 3000)  # within the length limit
    header = b64url_json({"alg": "HS256", "typ": "JWT"})
    response = mint(http, emulator.token_url, f"{header}.{nested}.{b64url(b'x' * 32)}")
    assert response.status_code == 401
    assert "malformed" in response.json()["error_description"]
    many = "&".join(f"f{i}=v" for i in range(50000)) + "&grant_type=client_credentials"
    response = http.post(emulator.token_url, data=many, headers=form_type, timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    claims = claims_for(creds.client_id, emulator.token_url, jti="é" * 2000)
    response = mint(http, emulator.token_url, f"{header}.{b64url_json(claims)}.")
    assert response.status_code == 401
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    response = http.post(emulator.token_url, data=form, timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/faults", '{"faults": ' + "[" * 100000 + "]" * 100000 + "}"),
        ("/users", '{"email": "x@example.com", "password": "\\ud800"}'),
        ("/users", '{"email": "\\udfff@example.com", "password": "p"}'),
        ("/users", '{"email": "x@example.com", "password": "p", "roles": ["\\ud800"]}'),
        ("/faults", '{"faults": [{"kind": "latency", "latency": 1e300}]}'),
        ("/faults", '{"faults": [{"status": 1e400}]}'),
        ("/clock", '{"offset": 1e400}'),
        ("/reset", "\xff"),
    ],
)
def test_hostile_control_bodies_are_400(
    emulator: EmulatorHandle, http: requests.Session, path: str, body: str
) -> None:
    """
    The control API refuses what it cannot hold (nesting, lone surrogates, absurd numbers).
    """
    method = {"/faults": "PUT", "/clock": "PUT"}.get(path, "POST")
    data = body.encode("utf-8", "surrogateescape")
    response = http.request(
        method, emulator.control_url + path, data=data, headers=JSON, timeout=10
    )
    assert response.status_code == 400, response.text
    assert "detail" in response.json()
    assert [u["email"] for u in emulator.users()] == ["null@example.com"]


def test_listings_survive_every_user_the_api_accepted(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Odd but valid users (non-ASCII, control characters in groups) round-trip as JSON.
    """
    created = emulator.create_user("ü\t@example.com", NON_LATIN1_PASSWORD, groups=("\x1b[31m",))
    listed = http.get(emulator.control_url + "/users", timeout=10)
    assert listed.status_code == 200
    assert created in [u for u in json.loads(listed.text) if u["email"] == "ü\t@example.com"]
