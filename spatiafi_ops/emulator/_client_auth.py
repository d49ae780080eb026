"""
Client authentication on the token route: strict ``client_secret_jwt`` (RFC 7523 §3), plus
``client_secret_basic``/``client_secret_post`` when the emulator is lenient.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from typing import Any
from urllib.parse import unquote

from . import _jwt, _paths
from ._config import EmulatorConfig
from ._messages import Request, Response, oauth_error
from ._state import ClientRecord, State

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Beyond 2**53 seconds a float cannot count whole seconds: no clock reads such a date.
_MAX_NUMERIC_DATE = float(2**53)


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


def numeric_date(value: object) -> float | None:
    """
    Return a JSON NumericDate (RFC 7519 §2) as a float, or ``None`` when *value* is not one.

    ``true`` is not a number (though Python says so), NaN and infinities never expire, and an
    integer too large for a float would make arithmetic raise: all are refused here.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and abs(value) > _MAX_NUMERIC_DATE:
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= _MAX_NUMERIC_DATE else None


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


def _claim_date(claims: dict[str, Any], name: str) -> float | None:
    """
    Return the NumericDate claim *name*, or ``None`` when the assertion has none.

    Raises:
        ClientAuthFailed: when the claim is there but is not a NumericDate.
    """
    if name not in claims:
        return None
    value = numeric_date(claims[name])
    if value is None:
        raise _invalid_client(f"client_assertion {name} is not a NumericDate")
    return value


def _clock_rejection(
    sentence: str, claim: str, value: float, now: float, skew: int, limit: str = ""
) -> ClientAuthFailed:
    """
    Return the rejection of a claim that is wrong for the server's clock: joserfc's sentence
    for the failure, then the claim, its value, the gap and the server's time.
    """
    gap = value - now
    side = "after" if gap > 0 else "before"
    beyond = f", more than {limit}" if limit else ""
    return _invalid_client(
        f"{sentence}: client_assertion {claim} {round(value)} is {round(abs(gap))} s {side} "
        f"the server's time {round(now)}{beyond} (leeway {skew} s); check the clock"
    )


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
        Return the client the request authenticates as: by assertion, or (when lenient) by
        Basic or form secret.

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
        header = request.headers.get("authorization", "")
        if header:
            return self._basic(header)
        if "client_secret" in form:
            self._require_lenient("client_secret_post")
        if "client_id" in form or "client_secret" in form:
            if not form.get("client_id") or "client_secret" not in form:
                raise _invalid_request(
                    "client_id and client_secret must be sent together"
                    if self.config.lenient_client_auth
                    else "client_assertion is missing"
                )
            return self._check_secret(form["client_id"], form["client_secret"])
        raise _invalid_request("client_assertion is missing")

    def _require_lenient(self, method: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        if not self.config.lenient_client_auth:
            # authlib's wording for a method the client is not registered for.
            description = (
                f"The client cannot authenticate with method: {method}; "
                "use client_secret_jwt (a client_assertion)"
            )
            raise ClientAuthFailed(oauth_error(401, "invalid_client", description, headers))

    def _basic(self, header: str) -> ClientRecord:
        # RFC 6749 §5.2: a failed Authorization-header authentication is a 401 with a
        # WWW-Authenticate for the scheme the client used.
        challenge = (("www-authenticate", "Basic"),)
        self._require_lenient("client_secret_basic", challenge)
        pair = basic_credentials(header)
        if pair is None:
            description = "the Authorization header is not valid client Basic auth"
            raise ClientAuthFailed(oauth_error(401, "invalid_client", description, challenge))
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
        return self._check_secret(unquote(pair[0]), unquote(pair[1]), challenge)

    def _check_secret(
        self, client_id: str, client_secret: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> ClientRecord:
        client = self.state.client(client_id)
        if client is None or not secrets.compare_digest(client.key, client_secret.encode()):
            description = "the client is unknown, revoked, or its secret is wrong"
            raise ClientAuthFailed(oauth_error(401, "invalid_client", description, headers))
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
        self._check_audience(claims, request)
        exp = self._check_times(claims)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid_client("client_assertion has no jti")
        expires = exp + self.config.clock_skew
        if self.config.strict_jti and not self.state.use_jti(client.client_id, jti, expires):
            raise _invalid_client("client_assertion jti has already been used")
        return client

    def _check_audience(self, claims: dict[str, Any], request: Request) -> None:
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

    def _check_times(self, claims: dict[str, Any]) -> float:
        """
        Check ``exp``, ``iat``, ``nbf`` and the lifetime against the emulated clock; return
        ``exp``.

        A time rejection starts with the sentence joserfc (authlib's JWT library) uses, then
        names the claim, its value, the server's time and the gap, so that a client can tell
        a clock problem from bad credentials (RFC 7519 §4.1.4-6).
        """
        now = self.state.now()
        skew = self.config.clock_skew
        exp = _claim_date(claims, "exp")
        if exp is None:
            raise _invalid_client("client_assertion has no exp")
        iat = _claim_date(claims, "iat")
        nbf = _claim_date(claims, "nbf")
        if exp <= now - skew:
            raise _clock_rejection("The token is expired", "exp", exp, now, skew)
        if iat is not None and iat > now + skew:
            raise _clock_rejection("The token was issued in the future", "iat", iat, now, skew)
        if nbf is not None and nbf > now + skew:
            raise _clock_rejection("The token is not yet valid", "nbf", nbf, now, skew)
        limit = self.config.max_assertion_lifetime
        if limit is None:
            return exp
        if iat is not None and exp - iat > limit:
            raise _invalid_client(
                f"The token lives too long: client_assertion exp - iat is "
                f"{round(exp - iat)} s, more than the {limit} s allowed"
            )
        if iat is None and exp - now > limit + skew:
            raise _clock_rejection(
                "The token lives too long", "exp", exp, now, skew, f"the {limit} s allowed"
            )
        return exp
