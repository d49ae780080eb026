"""
Client authentication on the token route: strict ``client_secret_jwt`` (RFC 7523 §3), plus
``client_secret_basic``/``client_secret_post`` where enabled.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any, TypeGuard
from urllib.parse import unquote

from . import _jwt, _paths
from ._config import EmulatorConfig
from ._messages import Request, Response, oauth_error
from ._state import ClientRecord, State

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientAuthFailed(Exception):
    """
    Client authentication failed; carries the OAuth error response to send.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _invalid_client(description: str) -> ClientAuthFailed:
    return ClientAuthFailed(oauth_error(401, "invalid_client", description))


def _invalid_request(description: str) -> ClientAuthFailed:
    return ClientAuthFailed(oauth_error(400, "invalid_request", description))


def is_number(value: object) -> TypeGuard[int | float]:
    """
    Tell whether a JSON claim is a number (``true`` is not one, though Python says so).
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """
    Return (user, password) from an ``Authorization: Basic`` value, or ``None``.
    """
    scheme, _, param = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class ClientAuthenticator:
    """
    Decides which client a token request authenticates as, or why it does not.
    """

    def __init__(self, config: EmulatorConfig, state: State, token_url: str) -> None:
        self.config = config
        self.state = state
        self.token_url = token_url

    def authenticate(self, request: Request, form: dict[str, str]) -> ClientRecord:
        """
        Return the client the request authenticates as: assertion, Basic, or form secret.

        Raises:
            ClientAuthFailed: with the 400/401 response to send.
        """
        assertion_type = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if assertion_type is not None or assertion is not None:
            if not assertion_type or not assertion:
                raise _invalid_request(
                    "client_assertion_type and client_assertion must be sent together"
                )
            if assertion_type != ASSERTION_TYPE:
                raise _invalid_client("client_assertion_type is not supported")
            return self._verify_assertion(assertion, request)
        if not self.config.client_secret_auth:
            raise _invalid_request("client_assertion is missing")
        header = request.headers.get("authorization", "")
        if header:
            pair = basic_credentials(header)
            if pair is None:
                raise _invalid_client("the Authorization header is not valid client Basic auth")
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
            return self._check_secret(unquote(pair[0]), unquote(pair[1]))
        if "client_id" in form or "client_secret" in form:
            if not form.get("client_id") or "client_secret" not in form:
                raise _invalid_request("client_id and client_secret must be sent together")
            return self._check_secret(form["client_id"], form["client_secret"])
        raise _invalid_request("client_assertion is missing")

    def _check_secret(self, client_id: str, client_secret: str) -> ClientRecord:
        client = self.state.client(client_id)
        if client is None or not secrets.compare_digest(client.key, client_secret.encode()):
            raise _invalid_client("the client is unknown, revoked, or its secret is wrong")
        return client

    def _verify_assertion(self, assertion: str, request: Request) -> ClientRecord:
        """
        Check a ``client_secret_jwt`` assertion strictly (RFC 7523 §3) and return its client.
        """
        try:
            parsed = _jwt.parse(assertion)
        except _jwt.JWTError as exc:
            raise _invalid_client(f"client_assertion is malformed: {exc}") from None
        alg = parsed.header.get("alg")
        if alg != _jwt.ALGORITHM:
            raise _invalid_client(f"client_assertion algorithm {alg!r} is not accepted; use HS256")
        claims = parsed.claims
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(sub, str) or not sub or iss != sub:
            raise _invalid_client("client_assertion iss and sub must both be the client_id")
        client = self.state.client(sub)
        if client is None:
            raise _invalid_client("the client is unknown or revoked")
        try:
            _jwt.verify_hs256(parsed, client.key)
        except _jwt.JWTError as exc:
            raise _invalid_client(f"client_assertion rejected: {exc}") from None
        self._check_times_and_audience(claims, request)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid_client("client_assertion has no jti")
        expires = float(claims["exp"]) + self.config.clock_skew
        if self.config.strict_jti and not self.state.use_jti(client.client_id, jti, expires):
            raise _invalid_client("client_assertion jti has already been used")
        return client

    def _check_times_and_audience(self, claims: dict[str, Any], request: Request) -> None:
        audiences = {self.token_url, f"http://{request.host}{_paths.TOKEN_PATH}"}
        aud = claims.get("aud")
        if isinstance(aud, str):
            aud_ok = aud in audiences
        else:
            aud_ok = isinstance(aud, list) and any(
                isinstance(a, str) and a in audiences for a in aud
            )
        if not aud_ok:
            raise _invalid_client(f"client_assertion aud must be {self.token_url}")
        now = self.state.now()
        skew = self.config.clock_skew
        exp = claims.get("exp")
        if not is_number(exp):
            raise _invalid_client("client_assertion has no numeric exp")
        if exp <= now - skew:
            raise _invalid_client("client_assertion has expired")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is None:
                continue
            if not is_number(value):
                raise _invalid_client(f"client_assertion {name} is not a number")
            if value > now + skew:
                raise _invalid_client(f"client_assertion {name} is in the future")
