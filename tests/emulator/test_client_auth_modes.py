"""
Strict by default: the token route takes only client_secret_jwt unless the emulator is lenient.

A user whose code authenticates the wrong way must fail against the emulator as it would in
production; the other methods (client_secret_post and _basic, the password grant) are
there only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorConfig, EmulatorHandle, running

from .emulator_testlib import DEFAULT_EMAIL, DEFAULT_PASSWORD, assertion, basic, mint

REFUSED = (
    "The client cannot authenticate with method: {}; use client_secret_jwt (a client_assertion)"
)
NO_PASSWORD_GRANT = "grant_type 'password' is not supported; use grant_type=client_credentials"
TOKEN_FIELDS = {"access_token", "token_type", "expires_at", "expires_in"}


@pytest.fixture(name="lenient")
def _lenient(spatiafi_emulator_factory: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    # The factory takes a config object as well as fields (the plugin test uses fields).
    return spatiafi_emulator_factory(EmulatorConfig(lenient_client_auth=True))


def _post(creds: AppCredentials) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }


def _basic(creds: AppCredentials, secret: str | None = None) -> dict[str, str]:
    return {"Authorization": basic(creds.client_id, secret or creds.client_secret)}


GRANT = {"grant_type": "client_credentials"}
PASSWORD_GRANT = {"grant_type": "password", "username": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD}


def test_default_emulator_refuses_client_secret_post(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    The shipped fixture is strict: a correct client_secret_post is 401 invalid_client.
    """
    response = http.post(emulator.token_url, data=_post(creds), timeout=10)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": REFUSED.format("client_secret_post"),
    }
    assert response.headers["cache-control"] == "no-store"
    assert emulator.info()["lenient_client_auth"] is False


def test_default_emulator_refuses_client_secret_basic_with_a_challenge(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    RFC 6749 §5.2: an Authorization-header attempt gets 401 and WWW-Authenticate.
    """
    response = http.post(emulator.token_url, data=GRANT, headers=_basic(creds), timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Basic"
    assert response.json()["error_description"] == REFUSED.format("client_secret_basic")


def test_default_emulator_refuses_the_password_grant(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    grant_type=password is an unsupported grant (RFC 6749 §5.2) unless lenient.
    """
    response = http.post(emulator.token_url, data=PASSWORD_GRANT, timeout=10)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": NO_PASSWORD_GRANT,
    }


def test_authlib_default_method_fails_against_the_fixture(
    emulator: EmulatorHandle, creds: AppCredentials
) -> None:
    """
    The bug issue 11 describes: authlib's default (client_secret_basic) must not pass.
    """
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(creds.client_id, creds.client_secret, token_endpoint=emulator.token_url)
    session.trust_env = False
    with pytest.raises(OAuthError, match="invalid_client"):
        session.fetch_token(grant_type="client_credentials", timeout=10)


def test_strict_and_lenient_both_mint_with_an_assertion(
    emulator: EmulatorHandle, lenient: EmulatorHandle, http: requests.Session
) -> None:
    """
    client_secret_jwt works in both modes.
    """
    for handle in (emulator, lenient):
        creds = handle.create_client()
        response = mint(http, handle.token_url, assertion(creds, handle.token_url))
        assert response.status_code == 200, response.text


def test_lenient_accepts_client_secret_post_and_basic_and_checks_the_secret(
    lenient: EmulatorHandle, http: requests.Session
) -> None:
    """
    The reference's other client authentications work when asked for, and check the secret.
    """
    creds = lenient.create_client()
    url = lenient.token_url
    assert lenient.info()["lenient_client_auth"] is True
    assert http.post(url, data=_post(creds), timeout=10).status_code == 200
    assert http.post(url, data=GRANT, headers=_basic(creds), timeout=10).status_code == 200
    wrong = http.post(url, data=GRANT, headers=_basic(creds, "nope"), timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert wrong.headers["www-authenticate"] == "Basic"
    wrong = http.post(url, data={**_post(creds), "client_secret": "nope"}, timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    half = http.post(url, data={**GRANT, "client_id": creds.client_id}, timeout=10)
    assert (half.status_code, half.json()["error"]) == (400, "invalid_request")


def test_lenient_password_grant(lenient: EmulatorHandle, http: requests.Session) -> None:
    """
    grant_type=password: 200 token, 400 bad credentials, 422 missing field (FastAPI).
    """
    url = lenient.token_url
    response = http.post(url, data=PASSWORD_GRANT, timeout=10)
    assert response.status_code == 200
    assert set(response.json()) == TOKEN_FIELDS
    bad = http.post(url, data={**PASSWORD_GRANT, "password": "wrong"}, timeout=10)
    assert (bad.status_code, bad.json()) == (400, {"detail": "LOGIN_BAD_CREDENTIALS"})
    missing = http.post(url, data={"grant_type": "password", "username": "x"}, timeout=10)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "password"]


def test_running_and_config_take_the_option(http: requests.Session) -> None:
    """
    running(lenient_client_auth=True) and EmulatorConfig(lenient_client_auth=True) both work;
    EmulatorConfig() is strict.
    """
    assert EmulatorConfig().lenient_client_auth is False
    config = EmulatorConfig(lenient_client_auth=True)
    with running(lenient_client_auth=True) as by_keyword, running(config) as by_config:
        for handle in (by_keyword, by_config):
            assert http.post(handle.token_url, data=PASSWORD_GRANT, timeout=10).status_code == 200
