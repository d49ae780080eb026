"""
Access tokens from app credentials: OAuth 2.0 client_credentials with a client_secret_jwt
assertion, built by authlib's ``ClientSecretJWT`` (fresh ``jti`` per request).
"""

from __future__ import annotations

import math
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT

from . import _log
from ._api import token_from_body, token_url
from ._config import DEFAULT_MIN_TTL, Settings
from ._http import (
    DEFAULT_RETRY_POLICY,
    Deadline,
    HttpClient,
    RetryPolicy,
    json_object,
    raise_for_status,
    translate_errors,
)
from ._models import AccessToken, AppCredentials
from ._redaction import register_secret

log = _log.get_logger(__name__)


def _checked_token_response(response: requests.Response) -> requests.Response:
    # authlib parses only {"error": ...} bodies and raises only for >= 500; a FastAPI
    # {"detail": ...} 4xx or an HTML page would become a "token" (reference §3.2).
    raise_for_status(response)
    token_from_body(json_object(response, ("access_token",)), where=response.url)
    return response


class _ScrubbedClientSecretJWT(ClientSecretJWT):  # type: ignore[misc]
    """
    authlib's ``ClientSecretJWT`` (a fresh ``jti`` per request), whose every assertion is
    registered for scrubbing: a server may echo it back in an error body (SPEC §6).
    """

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        assertion = super().sign(auth, token_endpoint)
        text = assertion.decode() if isinstance(assertion, bytes) else str(assertion)
        register_secret(text)
        return assertion


class _RetryingOAuth2Session(OAuth2Session):  # type: ignore[misc]
    """
    An ``OAuth2Session`` whose token requests are timed out, retried and bounded like ours.
    """

    def __init__(
        self,
        credentials: AppCredentials,
        settings: Settings,
        policy: RetryPolicy,
        deadline: Deadline | None = None,
    ) -> None:
        register_secret(credentials.client_secret)
        self._token_url = token_url(settings.url)
        super().__init__(
            credentials.client_id,
            credentials.client_secret,
            token_endpoint=self._token_url,
            grant_type="client_credentials",
            # Never claims=: authlib mutates it and would reuse the jti (reference §2.1).
            token_endpoint_auth_method=_ScrubbedClientSecretJWT(self._token_url),
            default_timeout=settings.timeout,
        )
        self.headers["User-Agent"] = "spatiafi-ops"
        self.register_compliance_hook("access_token_response", _checked_token_response)
        self._settings = settings
        self._policy = policy
        self._deadline = deadline

    def fetch_token(self, url: str | None = None, **kwargs: Any) -> Any:
        target = url or self._token_url
        deadline = self._deadline or Deadline(self._settings.deadline)
        http = HttpClient(
            timeout=self._settings.timeout, deadline=deadline, session=self, policy=self._policy
        )

        def attempt() -> Any:
            with translate_errors(target):
                return super(_RetryingOAuth2Session, self).fetch_token(
                    url, timeout=http.request_timeout(target), allow_redirects=False, **kwargs
                )

        return http.retrying(attempt)


def mint_token(
    credentials: AppCredentials,
    settings: Settings | None = None,
    *,
    deadline: Deadline | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> AccessToken:
    """
    Mint a fresh access token: one token request, plus retries of transient failures.
    """
    settings = (settings if settings is not None else Settings.from_env()).resolve(
        credentials.auth_url
    )
    url = token_url(settings.url)
    with _RetryingOAuth2Session(credentials, settings, policy, deadline) as session:
        token = token_from_body(dict(session.fetch_token()), where=f"POST {url}")
    log.debug("token_minted", client_id=credentials.client_id, expires_at=int(token.expires_at))
    return token


class _CachedOAuth2Session(_RetryingOAuth2Session):
    """
    A session whose tokens come from the token cache, as the CLI's do: processes in a row
    share one token, and a renewal takes a token another process minted before minting.
    """

    def __init__(
        self,
        credentials: AppCredentials,
        settings: Settings,
        policy: RetryPolicy,
        *,
        min_ttl: float,
    ) -> None:
        super().__init__(credentials, settings, policy)
        self._credentials = credentials
        self._min_ttl = min_ttl
        # authlib renews when less than `leeway` is left: ask the cache for as much.
        self.leeway = min_ttl

    def fetch_token(self, url: str | None = None, **kwargs: Any) -> Any:
        from ._token_cache import get_token

        token, _cached = get_token(
            self._credentials, self._settings, min_ttl=self._min_ttl, policy=self._policy
        )
        # authlib compares only integer expiries; rounded down, never later than ours.
        self.token = {
            "access_token": token.value,
            "token_type": token.token_type,
            "expires_at": math.floor(token.expires_at),
        }
        return self.token


def get_session(
    credentials: AppCredentials | None = None,
    settings: Settings | None = None,
    *,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    min_ttl: float = DEFAULT_MIN_TTL,
    use_cache: bool = True,
) -> OAuth2Session:
    """
    Return an authlib ``OAuth2Session`` that gets and renews its own token.

    Like py-spatiafi's ``get_session()``, but for any auth URL, with request timeouts and
    token requests retried within the deadline. Tokens come from the token cache, as
    ``spatiafi-ops token``'s do (*use_cache* False: a fresh one per session), and are
    renewed when less than *min_ttl* is left. API requests are yours to retry.
    """
    from ._sources import load_credentials

    settings = settings if settings is not None else Settings.from_env()
    if credentials is None:
        credentials = load_credentials(settings)
    settings = settings.resolve(credentials.auth_url)
    session: _RetryingOAuth2Session
    if use_cache:
        session = _CachedOAuth2Session(credentials, settings, policy, min_ttl=min_ttl)
    else:
        session = _RetryingOAuth2Session(credentials, settings, policy)
    session.fetch_token()
    return session
