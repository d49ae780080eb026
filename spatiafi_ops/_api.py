"""
One function per SpatiaFi Auth API route: paths and JSON shapes, no retry policy.

The token route is not here: authlib's ``OAuth2Session`` drives it (``tokens/_mint``).
Optional routes (list, delete) return ``None`` when the service does not offer them.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from . import _log
from ._clock import ServiceClock
from ._errors import RequestRejected, ServiceUnavailable, UnexpectedResponse, UnusableClient
from ._http import HttpClient
from ._models import AccessToken, AppCredentials, check_client_id, is_bearer_type, is_client_id
from ._redaction import register_secret
from ._responses import json_object, parse_json

BASIC_TOKEN_PATH = "/api/v1/auth/jwt/token/basic"
TOKEN_PATH = "/api/v1/auth/jwt/token"
CLIENTS_PATH = "/api/v1/clients/"  # the trailing slash matters: without it, a 307
# The service's tokens live 15 minutes; anything claiming more than a day is nonsense
# (milliseconds, a far-future date) and would be served from the cache long after death.
MAX_TOKEN_LIFETIME = 86400.0
# RFC 6750 §2.1: what a bearer token may hold, so that it is safe in a header.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_SECRET = 1024
# A user id is an identifier (a UUID, a number, an "auth0|..." subject): no spaces, quotes,
# brackets or "#", so none can be read as a CI runner's command where it is printed.
_USER_ID = re.compile(r"[\w.@+|:=/-]{1,128}")
_LATEST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, the last second datetime can hold

log = _log.get_logger(__name__)


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
    number = float(value)
    return number if math.isfinite(number) else None


def _expiry(body: dict[str, Any], clock: ServiceClock) -> float | None:
    """
    Return when a token ends on our clock, from whichever of its expiry fields is sane.

    ``expires_at`` (the service's clock) counts only within (now, now + 24 h] there;
    ``expires_in`` only within (0, 24 h]. With both, the earlier end wins: a service clock
    ahead of ours cannot make a token look longer-lived than it says it is.
    """
    ends = []
    expires_at = _number(body.get("expires_at"))
    service_now = clock.now()
    if expires_at is not None and service_now < expires_at <= service_now + MAX_TOKEN_LIFETIME:
        ends.append(clock.to_local(expires_at))
    elif body.get("expires_at") is not None:
        log.warning("token_expires_at_ignored", reason="not a time within the next 24 hours")
    expires_in = _number(body.get("expires_in"))
    if expires_in is not None and 0 < expires_in <= MAX_TOKEN_LIFETIME:
        ends.append(clock.local() + expires_in)
    return min(ends) if ends else None


def token_from_body(
    body: dict[str, Any], *, where: str, clock: ServiceClock | None = None
) -> AccessToken:
    """
    Return the token of a token response, which must say sanely when it expires.

    *clock* knows the service's offset from ours, if it was measured.

    Raises:
        UnexpectedResponse: when the token is not one a header can carry, or neither
            ``expires_at`` nor ``expires_in`` is a sane expiry.
    """
    value = str(body["access_token"])
    if not _BEARER_TOKEN.fullmatch(value):
        raise UnexpectedResponse(
            f"{where} answered an access token with characters no bearer token holds"
        )
    register_secret(value)
    expires_at = _expiry(body, clock if clock is not None else ServiceClock())
    if expires_at is None:
        raise UnexpectedResponse(
            f"{where} answered a token without a usable expiry (expires_at within the "
            "next 24 hours, or expires_in of up to 24 hours)"
        )
    token_type = body.get("token_type", "bearer")
    if not is_bearer_type(token_type):
        raise UnexpectedResponse(
            f"{where} answered a token of a type other than Bearer; only bearer tokens "
            "are used (RFC 6750)"
        )
    return AccessToken(value=value, token_type=token_type, expires_at=expires_at)


def token_url(auth_url: str) -> str:
    """
    Return the token endpoint, which is also the assertion's ``aud`` (RFC 7523 §3).
    """
    return auth_url + TOKEN_PATH


def _bearer(token: AccessToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}


def basic_authorization(username: str, password: str) -> str:
    """
    Return the ``Authorization`` value of HTTP Basic, in UTF-8 (RFC 7617 §2.1).

    requests would encode Latin-1, and fail on any character outside it.
    """
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def user_token(http: HttpClient, auth_url: str, username: str, password: str) -> AccessToken:
    """
    Log in with HTTP Basic and return the 15-minute user token (retried: a GET).
    """
    register_secret(password)
    register_secret(f"{username}:{password}")  # what the Basic header carries, base64'd
    response = http.request(
        "GET",
        auth_url + BASIC_TOKEN_PATH,
        headers={
            "Authorization": basic_authorization(username, password),
            "Accept": "application/json",
        },
    )
    body = json_object(response, ("access_token",))
    return token_from_body(body, where=response.url, clock=http.clock)


def _text(value: str, limit: int) -> bool:
    # Valid text for a file, a header or an env var: no control characters, no lone
    # surrogates (JSON's \ud800 escapes can make them), nothing absurdly long.
    return 0 < len(value) <= limit and value.isprintable()


def _path_segment(client_id: str) -> str | None:
    """
    Return *client_id* as one path segment: a UUID as it is, other printable ids (a service
    that answered one) percent-encoded; ``None`` for what cannot be one ("", ".", "..").
    """
    if is_client_id(client_id):
        return client_id
    if not _text(client_id, 128) or set(client_id) <= {"."}:
        return None
    return quote(client_id, safe="")


def create_client(http: HttpClient, auth_url: str, token: AccessToken) -> AppCredentials:
    """
    Create app credentials; the secret in the answer is shown once and never again.

    Not idempotent: retried only when the request provably never reached the server or
    was turned away with 429. Any other failure is ambiguous (the client may exist) and
    is raised for the caller to reconcile.
    """

    def not_processed(exc: ServiceUnavailable) -> bool:
        return not exc.request_sent or exc.status == 429

    response = http.retrying(
        lambda: http.send("POST", auth_url + CLIENTS_PATH, headers=_bearer(token)),
        retry_if=not_processed,
    )
    body = json_object(response, ("client_id", "client_secret"))
    secret, client_id = body["client_secret"], body["client_id"]
    # A client was created, but the store holds only a UUID id and printable text as the
    # secret (docs/files.md): the caller revokes it by the id, if that can be sent back.
    named = client_id if isinstance(client_id, str) and _path_segment(client_id) else None
    if not isinstance(secret, str) or not _text(secret, _MAX_SECRET):
        raise UnusableClient(
            f"POST {response.url} created a client whose secret the store cannot hold "
            "(not text, control characters, lone surrogates or too long)",
            client_id=named,
        )
    register_secret(secret)
    if not isinstance(client_id, str) or not is_client_id(client_id):
        raise UnusableClient(
            f"POST {response.url} created a client whose id is not a UUID", client_id=named
        )
    user_id = body.get("user_id")
    return AppCredentials(
        client_id=str(body["client_id"]),
        client_secret=secret,
        user_id=user_id if isinstance(user_id, str) and _USER_ID.fullmatch(user_id) else None,
        auth_url=auth_url,
    )


def _optional_route_missing(exc: RequestRejected) -> bool:
    # FastAPI answers an unknown path with 404 {"detail":"Not Found"} and a known path
    # with another method with 405: both mean "this service has no such route".
    return exc.status == 405 or (exc.status == 404 and exc.error == "Not Found")


def _listed_date(value: Any) -> str | None:
    number = _number(value)
    if number is not None:
        return repr(number) if 0 <= number <= _LATEST_EPOCH else None
    return value if isinstance(value, str) and _text(value, 64) else None


def _listed(item: Any) -> ClientInfo | None:
    if not isinstance(item, dict) or not isinstance(item.get("client_id"), str):
        return None
    try:
        client_id = check_client_id(item["client_id"])
    except ValueError:
        return None
    return ClientInfo(client_id=client_id, created_at=_listed_date(item.get("created_at")))


def list_clients(http: HttpClient, auth_url: str, token: AccessToken) -> list[ClientInfo] | None:
    """
    Return the user's clients, or ``None`` when the service cannot list them.

    Entries that are not clients (no id, or one that is not a client id) are left out
    with a warning: one odd entry must not stop every later run of the profile.
    """
    try:
        response = http.request("GET", auth_url + CLIENTS_PATH, headers=_bearer(token))
    except RequestRejected as exc:
        if _optional_route_missing(exc):
            return None
        raise
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    items = body.get("clients") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return None
    clients = [client for client in map(_listed, items) if client is not None]
    if len(clients) < len(items):
        log.warning("listed_clients_skipped", skipped=len(items) - len(clients), listed=len(items))
    return clients


def delete_client(
    http: HttpClient, auth_url: str, token: AccessToken, client_id: str
) -> bool | None:
    """
    Revoke a client; return False if it was already gone, ``None`` if unsupported.
    """
    segment = _path_segment(client_id)
    if segment is None:
        raise ValueError("a client id that cannot be sent in a path")
    try:
        url = auth_url + CLIENTS_PATH + segment
        http.request("DELETE", url, headers=_bearer(token))
    except RequestRejected as exc:
        if _optional_route_missing(exc):
            return None
        if exc.status == 404:
            return False
        raise
    return True
