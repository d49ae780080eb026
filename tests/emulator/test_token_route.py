"""
POST /api/v1/auth/jwt/token: grants, strict client_secret_jwt checks, RFC 6749 error shapes.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorHandle

from .emulator_testlib import (
    ASSERTION_TYPE,
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    assertion,
    b64url_json,
    claims_for,
    mint,
    sign,
    unverified_claims,
)


def _invalid_client(response: requests.Response) -> str:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client"
    description: str = body["error_description"]
    return description


def test_hand_built_assertion_mints_a_token_of_the_documented_shape(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A valid assertion gets 200 {access_token, token_type, expires_at, expires_in}.
    """
    before = int(time.time())
    response = mint(http, emulator.token_url, assertion(creds, emulator.token_url))
    after = int(time.time())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at", "expires_in"}
    assert body["token_type"] == "bearer"
    claims = unverified_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 900
    assert body["expires_at"] == claims["exp"] - 60
    assert body["expires_in"] == body["expires_at"] - claims["iat"]
    assert before + 840 <= body["expires_at"] <= after + 840
    assert claims["user_id"] == creds.user_id
    assert claims["iss"] == emulator.url
    assert emulator.url in claims["aud"]


def test_authlib_oauth2_session_mints_twice(
    emulator: EmulatorHandle, creds: AppCredentials
) -> None:
    """
    The official client's way (OAuth2Session + ClientSecretJWT) works, twice: fresh jti each.
    """
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import ClientSecretJWT

    session = OAuth2Session(
        creds.client_id,
        creds.client_secret,
        token_endpoint=emulator.token_url,
        grant_type="client_credentials",
        token_endpoint_auth_method=ClientSecretJWT(emulator.token_url),
    )
    session.trust_env = False
    first = session.fetch_token(timeout=10)
    second = session.fetch_token(timeout=10)
    assert first["access_token"] != second["access_token"]
    assert first["token_type"] == "bearer"
    assert emulator.count("token") == 2


def test_authlib_with_fixed_claims_reuses_jti_and_is_rejected(
    emulator: EmulatorHandle, creds: AppCredentials
) -> None:
    """
    ClientSecretJWT(claims=...) mutates the dict and resends one jti: the replay is caught.
    """
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import ClientSecretJWT

    session = OAuth2Session(
        creds.client_id,
        creds.client_secret,
        token_endpoint=emulator.token_url,
        grant_type="client_credentials",
        token_endpoint_auth_method=ClientSecretJWT(emulator.token_url, claims={"x": 1}),
    )
    session.trust_env = False
    session.fetch_token(timeout=10)
    with pytest.raises(OAuthError, match="invalid_client"):
        session.fetch_token(timeout=10)


def test_replayed_jti_is_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    The same assertion twice: the second is a replay.
    """
    token = assertion(creds, emulator.token_url)
    assert mint(http, emulator.token_url, token).status_code == 200
    assert "already been used" in _invalid_client(mint(http, emulator.token_url, token))


def test_aud_as_a_list_containing_the_token_url_is_accepted(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    RFC 7519 allows aud as an array; containing the token URL is enough.
    """
    aud = ["https://elsewhere.example", emulator.token_url]
    assert mint(http, emulator.token_url, assertion(creds, aud)).status_code == 200


@pytest.mark.parametrize(
    "aud",
    [
        "https://auth.spatiafi.com/api/v1/auth/jwt/token",
        "{url}",
        "{url}/api/v1/auth/jwt/token/",
        "{url}/api/v1/auth/jwt/token/basic",
        ["https://elsewhere.example"],
        [],
        42,
        None,
    ],
)
def test_wrong_or_missing_aud_is_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials, aud: Any
) -> None:
    """
    aud must be the exact token URL (or a list containing it).
    """
    if isinstance(aud, str):
        aud = aud.format(url=emulator.url)
    claims = claims_for(creds.client_id, aud)
    if aud is None:
        claims.pop("aud", None)
    response = mint(http, emulator.token_url, sign(claims, creds.client_secret))
    assert "aud" in _invalid_client(response)


def test_missing_or_non_numeric_exp_is_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    exp is required and numeric.
    """
    for exp in (None, "soon", True):
        claims = claims_for(creds.client_id, emulator.token_url)
        claims["exp"] = exp
        if exp is None:
            del claims["exp"]
        assert "exp" in _invalid_client(
            mint(http, emulator.token_url, sign(claims, creds.client_secret))
        )


def test_missing_jti_is_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    jti is required so that replays can be detected.
    """
    claims = claims_for(creds.client_id, emulator.token_url)
    del claims["jti"]
    assert "jti" in _invalid_client(
        mint(http, emulator.token_url, sign(claims, creds.client_secret))
    )


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "HS512", "typ": "JWT"},
        {"alg": "HS384", "typ": "JWT"},
        {"alg": "RS256", "typ": "JWT"},
        {"typ": "JWT"},
        {"alg": "HS256", "typ": "JWT", "crit": ["exp"]},
    ],
)
def test_other_algorithms_are_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials, header: dict[str, Any]
) -> None:
    """
    Only HS256 is accepted, even with a correct HMAC under the declared algorithm.
    """
    claims = claims_for(creds.client_id, emulator.token_url)
    digest = hashlib.sha512 if header.get("alg") == "HS512" else hashlib.sha256
    token = sign(claims, creds.client_secret, header=header, digest=digest)
    _invalid_client(mint(http, emulator.token_url, token))


def test_unsigned_none_token_with_empty_signature_is_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    The classic alg=none attack: header.payload. with no signature.
    """
    claims = claims_for(creds.client_id, emulator.token_url)
    token = f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(claims)}."
    _invalid_client(mint(http, emulator.token_url, token))


def test_tampered_payload_and_wrong_secret_are_rejected(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A changed claim breaks the signature; a signature under another secret is refused.
    """
    good = assertion(creds, emulator.token_url)
    head, _, signature = good.split(".")
    forged_claims = claims_for(creds.client_id, emulator.token_url)
    forged = f"{head}.{b64url_json(forged_claims)}.{signature}"
    assert "signature" in _invalid_client(mint(http, emulator.token_url, forged))
    other = creds._replace(client_secret=creds.client_secret[::-1])
    assert "signature" in _invalid_client(
        mint(http, emulator.token_url, assertion(other, emulator.token_url))
    )


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!!.e30.", "e30.W10.", "x" * 9000])
def test_malformed_assertions_are_invalid_client(
    emulator: EmulatorHandle, http: requests.Session, token: str
) -> None:
    """
    Garbage assertions get a clean 401 invalid_client (an empty one is a missing field).
    """
    response = mint(http, emulator.token_url, token)
    if token:
        _invalid_client(response)
    else:
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


def test_iss_must_equal_sub_and_be_a_known_client(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    iss != sub, or an unknown client id, is invalid_client.
    """
    url = emulator.token_url
    mismatch = assertion(creds, url, iss="someone-else")
    assert "iss and sub" in _invalid_client(mint(http, url, mismatch))
    unknown = creds._replace(client_id="00000000-0000-4000-8000-000000000000")
    assert "unknown" in _invalid_client(mint(http, url, assertion(unknown, url)))


def test_deleted_client_cannot_mint(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A revoked client is unknown from then on.
    """
    assert mint(http, emulator.token_url, assertion(creds, emulator.token_url)).status_code == 200
    assert emulator.delete_client(creds.client_id) is True
    _invalid_client(mint(http, emulator.token_url, assertion(creds, emulator.token_url)))


def test_client_of_an_inactive_owner_cannot_mint(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Deactivating the owning user stops its clients.
    """
    emulator.create_user(DEFAULT_EMAIL, DEFAULT_PASSWORD, is_active=False)
    _invalid_client(mint(http, emulator.token_url, assertion(creds, emulator.token_url)))


@pytest.mark.parametrize("grant_type", ["authorization_code", "refresh_token", "", None])
def test_unsupported_or_missing_grant_type(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials, grant_type: str | None
) -> None:
    """
    Anything but client_credentials/password is 400 unsupported_grant_type.
    """
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": "x.y.z"}
    if grant_type is not None:
        form["grant_type"] = grant_type
    response = http.post(emulator.token_url, data=form, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_json_body_is_not_a_form(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    The route reads a form; a JSON body carries no grant_type.
    """
    response = http.post(emulator.token_url, json={"grant_type": "client_credentials"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE},
        {"grant_type": "client_credentials", "client_assertion": "a.b.c"},
        {"grant_type": "client_credentials", "client_id": "abc"},
    ],
)
def test_missing_fields_are_invalid_request(
    emulator: EmulatorHandle, http: requests.Session, form: dict[str, str]
) -> None:
    """
    Half a client authentication is a 400 invalid_request.
    """
    response = http.post(emulator.token_url, data=form, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_assertion_type_is_invalid_client(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Only the jwt-bearer assertion type is understood.
    """
    response = mint(
        http,
        emulator.token_url,
        assertion(creds, emulator.token_url),
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
    )
    _invalid_client(response)


def test_repeated_parameter_is_invalid_request(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    RFC 6749 §3.2: a parameter sent twice is refused.
    """
    body = (
        "grant_type=client_credentials&grant_type=client_credentials"
        f"&client_assertion_type={ASSERTION_TYPE}"
        f"&client_assertion={assertion(creds, emulator.token_url)}"
    )
    response = http.post(
        emulator.token_url,
        data=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "repeated parameter: grant_type",
    }


def test_get_is_405_and_trailing_slash_is_307(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    FastAPI's framework behaviour: wrong method 405, other slash spelling 307.
    """
    response = http.get(emulator.token_url, timeout=10)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == "POST"
    response = http.post(emulator.token_url + "/", allow_redirects=False, timeout=10)
    assert response.status_code == 307
    assert response.headers["location"] == emulator.token_url


def test_errors_never_echo_the_secret_or_assertion(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Error descriptions name the problem, never the secret or the token.
    """
    token = assertion(creds, "https://wrong.example")
    response = mint(http, emulator.token_url, token)
    assert response.status_code == 401
    assert creds.client_secret not in response.text
    assert token not in response.text
