"""
One function per SpatiaFi Auth API route: paths and JSON shapes (SPEC §2), no retry policy.

The token route is not here: authlib's ``OAuth2Session`` drives it (``_auth``).
Optional routes (list, delete) return ``None`` when the service does not offer them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ._errors import RequestRejected, ServiceUnavailable, UnexpectedResponse
from ._http import HttpClient, json_object
from ._models import AccessToken, AppCredentials, check_client_id
from ._redaction import register_secret

BASIC_TOKEN_PATH = "/api/v1/auth/jwt/token/basic"
TOKEN_PATH = "/api/v1/auth/jwt/token"
CLIENTS_PATH = "/api/v1/clients/"  # the trailing slash matters: without it, a 307


@dataclass(frozen=True)
class ClientInfo:
    """
    A client as the optional listing route shows it (never with its secret).
    """

    client_id: str
    created_at: str | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def token_from_body(body: dict[str, Any], *, where: str) -> AccessToken:
    """
    Return the token of a token response, which must say when it expires.

    Raises:
        UnexpectedResponse: when ``expires_at`` (or ``expires_in``) is missing or no number.
    """
    register_secret(str(body["access_token"]))
    expires_at = _number(body.get("expires_at"))
    expires_in = _number(body.get("expires_in"))
    if expires_in is not None:
        # Relative to our clock, so a server clock ahead of ours cannot make it look longer.
        local = time.time() + expires_in
        expires_at = local if expires_at is None else min(expires_at, local)
    if expires_at is None:
        raise UnexpectedResponse(f"{where} answered a token without a numeric expires_at")
    token_type = body.get("token_type")
    return AccessToken(
        value=str(body["access_token"]),
        token_type=token_type if isinstance(token_type, str) and token_type else "bearer",
        expires_at=expires_at,
    )


def token_url(auth_url: str) -> str:
    """
    Return the token endpoint, which is also the assertion's ``aud`` (SPEC §2).
    """
    return auth_url + TOKEN_PATH


def _bearer(token: AccessToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}


def user_token(http: HttpClient, auth_url: str, username: str, password: str) -> AccessToken:
    """
    Log in with HTTP Basic and return the 15-minute user token (retried: a GET).
    """
    register_secret(password)
    register_secret(f"{username}:{password}")  # what the Basic header carries, base64'd
    response = http.request(
        "GET",
        auth_url + BASIC_TOKEN_PATH,
        auth=(username, password),
        headers={"Accept": "application/json"},
    )
    return token_from_body(json_object(response, ("access_token",)), where=response.url)


def create_client(http: HttpClient, auth_url: str, token: AccessToken) -> AppCredentials:
    """
    Create app credentials; the secret in the answer is shown once and never again.

    Not idempotent: retried only when the request provably never reached the server or
    was turned away with 429. Any other failure is ambiguous (the client may exist) and
    is raised for the caller to reconcile (SPEC §5).
    """

    def not_processed(exc: ServiceUnavailable) -> bool:
        return not exc.request_sent or exc.status == 429

    response = http.retrying(
        lambda: http.send("POST", auth_url + CLIENTS_PATH, headers=_bearer(token)),
        retry_if=not_processed,
    )
    body = json_object(response, ("client_id", "client_secret"))
    register_secret(str(body["client_secret"]))
    try:
        check_client_id(str(body["client_id"]))
    except ValueError:
        raise UnexpectedResponse(
            f"POST {response.url} answered a client id that is not one", url=response.url
        ) from None
    user_id = body.get("user_id")
    return AppCredentials(
        client_id=str(body["client_id"]),
        client_secret=str(body["client_secret"]),
        user_id=str(user_id) if user_id is not None else None,
        auth_url=auth_url,
    )


def _optional_route_missing(exc: RequestRejected) -> bool:
    # FastAPI answers an unknown path with 404 {"detail":"Not Found"} and a known path
    # with another method with 405: both mean "this service has no such route".
    return exc.status == 405 or (exc.status == 404 and "Not Found" in str(exc))


def list_clients(http: HttpClient, auth_url: str, token: AccessToken) -> list[ClientInfo] | None:
    """
    Return the user's clients, or ``None`` when the service cannot list them.
    """
    try:
        response = http.request("GET", auth_url + CLIENTS_PATH, headers=_bearer(token))
    except RequestRejected as exc:
        if _optional_route_missing(exc):
            return None
        raise
    try:
        body = response.json()
    except ValueError:
        body = None
    items = body.get("clients") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return None
    return [
        ClientInfo(client_id=str(item["client_id"]), created_at=item.get("created_at"))
        for item in items
        if isinstance(item, dict) and "client_id" in item
    ]


def delete_client(
    http: HttpClient, auth_url: str, token: AccessToken, client_id: str
) -> bool | None:
    """
    Revoke a client; return False if it was already gone, ``None`` if unsupported.
    """
    try:
        url = auth_url + CLIENTS_PATH + check_client_id(client_id)
        http.request("DELETE", url, headers=_bearer(token))
    except RequestRejected as exc:
        if _optional_route_missing(exc):
            return None
        if exc.status == 404:
            return False
        raise
    return True
