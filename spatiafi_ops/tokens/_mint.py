"""
Access tokens from app credentials: OAuth 2.0 client_credentials with a client_secret_jwt
assertion, built by authlib's ``ClientSecretJWT`` (fresh ``jti`` per request), signed on the
service's clock when ours is off, over the bounded transport.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT

from .. import _log
from .._api import token_from_body, token_url
from .._clock import ServiceClock
from .._config import Settings
from .._errors import ClockSkew, CredentialsRejected
from .._http import DEFAULT_RETRY_POLICY, Deadline, HttpClient, RetryPolicy, translate_errors
from .._models import AccessToken, AppCredentials
from .._redaction import register_secret
from .._responses import json_object, raise_for_status
from .._transport import prepare_session

log = _log.get_logger(__name__)

# authlib's own lifetime of an assertion (rfc7523 sign_jwt_bearer_assertion's default),
# kept when we set iat ourselves.
ASSERTION_LIFETIME = 3600
# What servers say when an assertion's times are the reason: the claim names (RFC 7519
# §4.1.4-6), joserfc's "token is expired" / "not valid yet", the emulator's "iat is in the
# future". "expired" alone could be the secret's own end: it counts next to "assertion",
# "jwt" or "token" only.
_TIME_REASON = re.compile(
    r"\b(?:iat|exp|nbf)\b|not (?:yet )?valid(?: yet)?|in the future|clock|skew", re.IGNORECASE
)
_EXPIRED_ASSERTION = re.compile(r"\bexpired\b", re.IGNORECASE)
_ASSERTION_WORDS = re.compile(r"assertion|jwt|token", re.IGNORECASE)


def rejected_for_time(exc: CredentialsRejected) -> bool:
    """
    Return whether the service's own words say an assertion was refused for its times.

    The server's ``error``/``error_description`` are input, parsed like any other.
    """
    said = " ".join(part for part in (exc.error, exc.detail) if part)
    if _TIME_REASON.search(said):
        return True
    return bool(_EXPIRED_ASSERTION.search(said) and _ASSERTION_WORDS.search(said))


class _ClockedClientSecretJWT(ClientSecretJWT):  # type: ignore[misc]
    """
    authlib's ``ClientSecretJWT`` (a fresh ``jti`` per request), signed on the service's
    clock when it differs from ours, each assertion registered for scrubbing: a server
    may echo it back in an error body.
    """

    def __init__(self, token_endpoint: str, clock: ServiceClock) -> None:
        super().__init__(token_endpoint)
        self.clock = clock
        self.on_service_clock = False  # set for the one retry after a rejection for time

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        issued_at = self.clock.signing_time(on_service_clock=self.on_service_clock)
        if issued_at is None:
            assertion = super().sign(auth, token_endpoint)
        else:
            # A fresh claims dict per call: authlib adds the jti to the dict it is given.
            claims = {"iat": int(issued_at), "exp": int(issued_at) + ASSERTION_LIFETIME}
            once = ClientSecretJWT(token_endpoint, claims=claims, alg=self.alg)
            assertion = once.sign(auth, token_endpoint)
        text = assertion.decode() if isinstance(assertion, bytes) else str(assertion)
        register_secret(text)
        return assertion


class _RetryingOAuth2Session(OAuth2Session):  # type: ignore[misc]
    """
    An ``OAuth2Session`` over the bounded transport whose token requests are timed out,
    retried and bounded like ours, and signed again on the service's clock once when
    refused for time. ``minted`` is the last token, as we read it.
    """

    minted: AccessToken

    def __init__(
        self,
        credentials: AppCredentials,
        settings: Settings,
        policy: RetryPolicy,
        deadline: Deadline | None = None,
        clock: ServiceClock | None = None,
    ) -> None:
        register_secret(credentials.client_secret)
        self._token_url = token_url(settings.url)
        self.clock = clock if clock is not None else ServiceClock()
        self._signer = _ClockedClientSecretJWT(self._token_url, self.clock)
        super().__init__(
            credentials.client_id,
            credentials.client_secret,
            token_endpoint=self._token_url,
            grant_type="client_credentials",
            # Never claims=: authlib's rfc7523 _sign adds the jti to that dict, so every
            # later assertion would repeat it.
            token_endpoint_auth_method=self._signer,
            default_timeout=settings.timeout,
        )
        # Only the auth service's answers are bounded: API calls through get_session()
        # stream as requests does.
        prepare_session(
            self,
            clock=self.clock,
            timeout=settings.timeout,
            allow_cleartext=settings.allow_insecure_transport,
            bounded_prefix=settings.url + "/",
        )
        self.register_compliance_hook("access_token_response", self._checked_token_response)
        self._settings = settings
        self._policy = policy
        self._deadline = deadline

    def _checked_token_response(self, response: requests.Response) -> requests.Response:
        # authlib parses only {"error": ...} bodies and raises only for >= 500; a FastAPI
        # {"detail": ...} 4xx or an HTML page would become a "token".
        raise_for_status(response)
        body = json_object(response, ("access_token",))
        self.minted = token_from_body(body, where=response.url, clock=self.clock)
        # authlib reads the body again and int()s its expiry (OverflowError on Infinity),
        # then renews by it on our clock: it gets the token as we read it.
        response._content = json.dumps(
            {
                "access_token": self.minted.value,
                "token_type": self.minted.token_type,
                "expires_at": int(self.minted.expires_at),
            }
        ).encode()
        return response

    def fetch_token(self, url: str | None = None, **kwargs: Any) -> Any:
        target = url or self._token_url
        deadline = self._deadline or Deadline(self._settings.deadline)
        http = HttpClient.for_settings(
            self._settings, deadline, session=self, policy=self._policy, clock=self.clock
        )

        def attempt() -> Any:
            with translate_errors(target):
                return super(_RetryingOAuth2Session, self).fetch_token(
                    url, timeout=http.request_timeout(target), allow_redirects=False, **kwargs
                )

        self._signer.on_service_clock = False
        signed_locally = self.clock.signing_time() is None
        try:
            return http.retrying(attempt)
        except CredentialsRejected as exc:
            # Said by the service, or likely: signed on our clock, which is off from its.
            if not (rejected_for_time(exc) or (signed_locally and self.clock.skewed)):
                raise
            if self.clock.offset is None:  # no Date header: nothing to sign on instead
                raise self._clock_skew(exc) from None
            log.warning("assertion_rejected_for_time", offset_s=round(self.clock.offset, 1))
        # Once, on the service's clock as its last answer showed it.
        self._signer.on_service_clock = True
        try:
            return http.retrying(attempt)
        except CredentialsRejected as exc:
            if rejected_for_time(exc):
                raise self._clock_skew(exc) from None
            raise

    def _clock_skew(self, exc: CredentialsRejected) -> ClockSkew:
        reason = exc.detail or exc.error or "its times"
        signed = "on the service's clock" if self._signer.on_service_clock else "on ours"
        return ClockSkew(
            f"the service refused the client assertion for its times ({reason}), signed "
            f"{signed}; {self.clock.describe()}: sync this machine's clock (NTP)",
            offset=self.clock.offset,
        )


def mint_token(
    credentials: AppCredentials,
    settings: Settings | None = None,
    *,
    deadline: Deadline | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    clock: ServiceClock | None = None,
) -> AccessToken:
    """
    Mint a fresh access token: one token request, plus retries of transient failures.

    *clock* is the run's ``ServiceClock`` (a fresh one by default): with an offset already
    measured, the first assertion is signed on the service's clock.

    Raises:
        ClockSkew: when the service refuses the assertion for its times, even signed on
            its own clock (exit 5), never ``CredentialsRejected`` then.
    """
    settings = (settings if settings is not None else Settings.from_env()).resolve(
        credentials.auth_url
    )
    with _RetryingOAuth2Session(credentials, settings, policy, deadline, clock) as session:
        session.fetch_token()
        token: AccessToken = session.minted
    log.debug("token_minted", client_id=credentials.client_id, expires_at=int(token.expires_at))
    return token


class _CachedOAuth2Session(_RetryingOAuth2Session):
    """
    A session whose tokens come from *fetch* (the token cache, as the CLI's do): processes
    in a row share one token, and a renewal takes a token another process minted before
    minting.
    """

    def __init__(
        self,
        credentials: AppCredentials,
        settings: Settings,
        policy: RetryPolicy,
        *,
        min_ttl: float,
        fetch: Callable[[], AccessToken],
    ) -> None:
        super().__init__(credentials, settings, policy)
        self._fetch = fetch
        # authlib renews when less than `leeway` is left: ask the cache for as much.
        self.leeway = min_ttl

    def fetch_token(self, url: str | None = None, **kwargs: Any) -> Any:
        token = self._fetch()
        # authlib compares only integer expiries; rounded down, never later than ours.
        self.token = {
            "access_token": token.value,
            "token_type": token.token_type,
            "expires_at": math.floor(token.expires_at),
        }
        return self.token


def open_session(
    credentials: AppCredentials,
    settings: Settings,
    policy: RetryPolicy | None,
    *,
    min_ttl: float,
    cached: Callable[[], AccessToken] | None,
) -> OAuth2Session:
    """
    Return an authlib session holding a token: from *cached* when given (and on each
    renewal, when less than *min_ttl* is left), else minted by the session itself.
    """
    policy = DEFAULT_RETRY_POLICY if policy is None else policy
    session: _RetryingOAuth2Session
    if cached is not None:
        session = _CachedOAuth2Session(credentials, settings, policy, min_ttl=min_ttl, fetch=cached)
    else:
        session = _RetryingOAuth2Session(credentials, settings, policy)
    session.fetch_token()
    return session
