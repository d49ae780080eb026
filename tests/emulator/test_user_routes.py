"""
The Basic login, create-client, optional list/delete-client and users/me routes.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorHandle

from .emulator_testlib import (
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    assertion,
    b64url_json,
    basic,
    mint,
    sign,
    unverified_claims,
    user_token,
)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# GET /api/v1/auth/jwt/token/basic


def test_basic_login_returns_the_documented_shape(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    200 {access_token, token_type: bearer, expires_at}; the token lives 900 s.
    """
    headers = {"Authorization": basic(DEFAULT_EMAIL, DEFAULT_PASSWORD)}
    response = http.get(emulator.basic_url, headers=headers, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    claims = unverified_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 900
    assert body["expires_at"] == claims["exp"] - 60


def test_requests_auth_tuple_works_like_the_official_client(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    py-spatiafi calls requests.get(url, auth=(username, password)).
    """
    response = http.get(emulator.basic_url, auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD), timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (DEFAULT_EMAIL, "wrong"),
        ("nobody@example.com", DEFAULT_PASSWORD),
        (DEFAULT_EMAIL, ""),
        ("NULL@example.com", "wrong"),
    ],
)
def test_bad_credentials_are_400(
    emulator: EmulatorHandle, http: requests.Session, email: str, password: str
) -> None:
    """
    Unknown email or wrong password: 400 LOGIN_BAD_CREDENTIALS.
    """
    headers = {"Authorization": basic(email, password)}
    response = http.get(emulator.basic_url, headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


def test_inactive_user_cannot_log_in(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    An inactive user gets the same 400 as a wrong password; a reactivated one logs in.
    """
    emulator.create_user("off@example.com", "pw", is_active=False)
    headers = {"Authorization": basic("off@example.com", "pw")}
    response = http.get(emulator.basic_url, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (400, {"detail": "LOGIN_BAD_CREDENTIALS"})
    emulator.create_user("off@example.com", "pw", is_active=True)
    assert http.get(emulator.basic_url, headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Digest username=x",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    ],
)
def test_missing_or_unusable_basic_header_is_401(
    emulator: EmulatorHandle, http: requests.Session, header: str | None
) -> None:
    """
    FastAPI HTTPBasic: 401 {"detail": "Not authenticated"} with WWW-Authenticate: Basic.
    """
    headers = {} if header is None else {"Authorization": header}
    response = http.get(emulator.basic_url, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Basic"


def test_basic_route_is_get_only(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    POST to the Basic route is 405 with an Allow header.
    """
    response = http.post(emulator.basic_url, auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD), timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


# POST /api/v1/clients/


@pytest.mark.parametrize("kwargs", [{}, {"json": {}}, {"json": {"name": "x", "extra": [1]}}])
def test_create_client_returns_201_with_uuid_and_43_char_secret(
    emulator: EmulatorHandle, http: requests.Session, kwargs: dict[str, Any]
) -> None:
    """
    201 {user_id, client_id (UUID4), client_secret (token_urlsafe(32))}; any body ignored.
    """
    token = user_token(http, emulator.url)
    response = http.post(emulator.clients_url, headers=_bearer(token), timeout=10, **kwargs)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user_id", "client_id", "client_secret"}
    assert uuid.UUID(body["client_id"]).version == 4
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["client_secret"])
    assert body["user_id"] == unverified_claims(token)["user_id"]
    # The new credentials mint at once.
    created = AppCredentials(body["client_id"], body["client_secret"])
    assert mint(http, emulator.token_url, assertion(created, emulator.token_url)).status_code == 200


def test_each_create_makes_a_new_client(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    A user can own several clients; each create is a new one.
    """
    token = user_token(http, emulator.url)
    ids = {
        http.post(emulator.clients_url, headers=_bearer(token), timeout=10).json()["client_id"]
        for _ in range(3)
    }
    assert len(ids) == 3
    assert {c["client_id"] for c in emulator.clients()} == ids


def test_create_client_without_slash_redirects_307(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    POST /api/v1/clients → 307 to the slash form; requests follows it keeping method/header.
    """
    token = user_token(http, emulator.url)
    url = emulator.url + "/api/v1/clients"
    response = http.post(url, headers=_bearer(token), allow_redirects=False, timeout=10)
    assert response.status_code == 307
    assert response.headers["location"] == emulator.clients_url
    assert response.content == b""
    followed = http.post(url, headers=_bearer(token), timeout=10)
    assert followed.status_code == 201
    assert [r.status_code for r in followed.history] == [307]
    assert emulator.count("POST /api/v1/clients") == 2
    assert emulator.count("clients") == 1


def _forged_tokens(emulator: EmulatorHandle, http: requests.Session) -> list[str]:
    real = user_token(http, emulator.url)
    head, payload, signature = real.split(".")
    claims = unverified_claims(real)
    return [
        "",
        "not-a-jwt",
        f"{head}.{payload}.{signature[::-1]}",
        f"{head}.{b64url_json({**claims, 'user_id': str(uuid.uuid4())})}.{signature}",
        sign(claims, b"a key that is not the emulator's"),
        f"{b64url_json({'alg': 'none'})}.{payload}.",
    ]


def test_create_client_with_a_bad_token_is_401(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Missing, malformed, tampered, foreign-signed or alg=none tokens: 401 Unauthorized.
    """
    for token in _forged_tokens(emulator, http):
        response = http.post(emulator.clients_url, headers=_bearer(token), timeout=10)
        assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})
    response = http.post(emulator.clients_url, timeout=10)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})
    assert emulator.clients() == []


def test_expired_user_token_is_401_via_clock_offset(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Moving the emulated clock 900 s ahead expires a freshly issued token.
    """
    token = user_token(http, emulator.url)
    emulator.set_clock_offset(899)
    assert http.post(emulator.clients_url, headers=_bearer(token), timeout=10).status_code == 201
    emulator.set_clock_offset(901)
    response = http.post(emulator.clients_url, headers=_bearer(token), timeout=10)
    assert response.status_code == 401


def test_client_credentials_token_is_accepted_as_bearer(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Password and client-credentials tokens are interchangeable (docs/emulator.md).
    """
    token = mint(http, emulator.token_url, assertion(creds, emulator.token_url)).json()
    me = http.get(emulator.url + "/api/v1/users/me", headers=_bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": creds.user_id,
        "email": DEFAULT_EMAIL,
        "is_active": True,
        "is_superuser": False,
        "is_verified": False,
    }


def test_token_of_a_deactivated_user_is_401(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    The Bearer check looks the user up each time.
    """
    token = user_token(http, emulator.url)
    emulator.create_user(DEFAULT_EMAIL, DEFAULT_PASSWORD, is_active=False)
    assert http.post(emulator.clients_url, headers=_bearer(token), timeout=10).status_code == 401


# optional client management


def test_list_clients_shows_own_clients_without_secrets(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    GET /api/v1/clients/ → 200 [{client_id, user_id, created_at}] of the bearer's user only.
    """
    emulator.create_user("other@example.com", "pw-other@example.com")
    mine = emulator.create_client()
    theirs = emulator.create_client("other@example.com")
    before = time.time()
    token = user_token(http, emulator.url)
    response = http.get(emulator.clients_url, headers=_bearer(token), timeout=10)
    assert response.status_code == 200
    listed = response.json()
    assert [c["client_id"] for c in listed] == [mine.client_id]
    assert set(listed[0]) == {"client_id", "user_id", "created_at"}
    assert abs(listed[0]["created_at"] - before) < 60
    assert mine.client_secret not in response.text
    assert theirs.client_id not in response.text
    assert http.get(emulator.clients_url, timeout=10).status_code == 401


def test_delete_client(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    DELETE own client → 204; again, unknown or another user's → 404.
    """
    emulator.create_user("other@example.com", "pw-other@example.com")
    mine = emulator.create_client()
    theirs = emulator.create_client("other@example.com")
    headers = _bearer(user_token(http, emulator.url))
    url = emulator.clients_url
    response = http.delete(url + mine.client_id, headers=headers, timeout=10)
    assert (response.status_code, response.content) == (204, b"")
    assert http.delete(url + mine.client_id, headers=headers, timeout=10).status_code == 404
    response = http.delete(url + theirs.client_id, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    assert http.delete(url + str(uuid.uuid4()), headers=headers, timeout=10).status_code == 404
    assert http.delete(url + theirs.client_id, timeout=10).status_code == 401
    assert [c["client_id"] for c in emulator.clients()] == [theirs.client_id]
    assert emulator.count("DELETE /api/v1/clients/{client_id}") == 5
    assert emulator.count("delete-client") == 5


def test_client_management_off_looks_like_a_service_without_it(
    spatiafi_emulator_factory: Any, http: requests.Session
) -> None:
    """
    client_management=False: GET → 405 (the POST route exists), DELETE → 404.
    """
    emulator = spatiafi_emulator_factory(client_management=False)
    creds = emulator.create_client()
    headers = _bearer(user_token(http, emulator.url))
    response = http.get(emulator.clients_url, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (405, {"detail": "Method Not Allowed"})
    assert response.headers["allow"] == "POST"
    response = http.delete(emulator.clients_url + creds.client_id, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    assert http.post(emulator.clients_url, headers=headers, timeout=10).status_code == 201
    assert emulator.info()["client_management"] is False


def test_unknown_paths_are_404(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    FastAPI's 404 body for a path no route has.
    """
    for path in ("/", "/api/v1/nothing", "/api/v1/clients/a/b", "/docs/"):
        response = http.get(emulator.url + path, timeout=10)
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"}), path
