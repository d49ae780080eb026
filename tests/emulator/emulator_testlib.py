"""
Hand-built HTTP pieces for probing the emulator: Basic headers and HS256 assertions.

Deliberately independent of both the emulator's ``_jwt`` and authlib, so that a test can
craft exactly the malformed or hostile token it needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests

from spatiafi_ops import AppCredentials

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_EMAIL = "null@example.com"
DEFAULT_PASSWORD = "example_password123"
# The control API takes every change as JSON (docs/emulator.md: who may use it).
JSON = {"Content-Type": "application/json"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def sign(
    claims: dict[str, Any],
    secret: str | bytes,
    *,
    header: dict[str, Any] | None = None,
    digest: Any = hashlib.sha256,
) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    head = b64url_json(header if header is not None else {"alg": "HS256", "typ": "JWT"})
    signing_input = f"{head}.{b64url_json(claims)}"
    signature = hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims_for(client_id: str, aud: Any, **overrides: Any) -> dict[str, Any]:
    """
    Return the claims authlib's ClientSecretJWT would send, with *overrides* (None drops one).
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def assertion(creds: AppCredentials, aud: Any, **overrides: Any) -> str:
    return sign(claims_for(creds.client_id, aud, **overrides), creds.client_secret)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def mint(
    http: requests.Session, token_url: str, client_assertion: str, **extra: str
) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra,
    }
    return http.post(token_url, data=form, timeout=10)


def user_token(http: requests.Session, url: str, email: str = DEFAULT_EMAIL) -> str:
    password = DEFAULT_PASSWORD if email == DEFAULT_EMAIL else "pw-" + email
    response = http.get(
        url + "/api/v1/auth/jwt/token/basic",
        headers={"Authorization": basic(email, password)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def raw_exchange(url: str, data: bytes) -> bytes:
    """
    Send *data* as-is on a fresh connection and return everything the server sends back
    before closing (requests should ask for ``Connection: close`` or be refused).
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
