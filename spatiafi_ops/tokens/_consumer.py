"""
The consumer's token path: credentials from the source the settings name, a token from the
cache, else one minted under the cache's lock; and an authlib session whose tokens come
the same way.

It sits above the sources, the cache and minting, and only calls down into them. Minting
(requests, authlib) is imported on a miss only: a cache hit stays fast (make bench).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import _log
from .._config import DEFAULT_MIN_TTL, Settings
from .._errors import CredentialsRejected, LocalStateError
from .._models import AccessToken, AppCredentials
from .._redaction import register_secret
from ..credentials._sources import load_credentials, source_for
from ._cache import TokenCache

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

    from .._http import RetryPolicy

log = _log.get_logger(__name__)


def _mint(
    credentials: AppCredentials, settings: Settings, started: float, policy: RetryPolicy | None
) -> AccessToken:
    from .._http import DEFAULT_RETRY_POLICY, Deadline  # requests: only on a miss
    from ._mint import mint_token  # requests + authlib: only on a miss

    # One deadline for the command: time spent waiting for the lock counts (README: The CLI).
    deadline = Deadline(settings.deadline, started=started)
    return mint_token(
        credentials,
        settings,
        deadline=deadline,
        policy=DEFAULT_RETRY_POLICY if policy is None else policy,
    )


def get_token(
    credentials: AppCredentials,
    settings: Settings,
    *,
    min_ttl: float,
    use_cache: bool = True,
    policy: RetryPolicy | None = None,
) -> tuple[AccessToken, bool]:
    """
    Return a token with at least *min_ttl* left and whether it came from the cache.

    A hit touches no network and imports neither requests nor authlib. A miss makes one
    token request, under a per-key lock, so that processes minting at once share it.
    """
    started = time.monotonic()
    settings = settings.resolve(credentials.auth_url)
    register_secret(credentials.client_secret)
    if not use_cache:
        return _mint(credentials, settings, started, policy), False
    auth_url = settings.url
    cache = TokenCache.for_settings(settings)
    cached = cache.load(auth_url, credentials, min_ttl=min_ttl)
    if cached is not None:
        return cached, True
    token: AccessToken | None = None
    try:
        with cache.minting(auth_url, credentials, wait=settings.deadline):
            cached = cache.load(auth_url, credentials, min_ttl=min_ttl)
            if cached is not None:
                return cached, True
            token = _mint(credentials, settings, started, policy)
            cache.save(auth_url, credentials, token)
    except LocalStateError as exc:
        # The cache is an optimisation: an unwritable one costs a mint, not the command.
        log.warning("token_cache_unusable", error=str(exc))
        if token is None:
            token = _mint(credentials, settings, started, policy)
    if token.ttl() < min_ttl:
        log.warning("token_shorter_than_min_ttl", ttl_s=int(token.ttl()), min_ttl_s=int(min_ttl))
    return token, False


def token_from_source(
    settings: Settings, *, min_ttl: float, use_cache: bool = True
) -> tuple[AccessToken, bool]:
    """
    Return a token minted with the credentials the settings point at (and whether it
    came from the cache).

    A rejection is checked against the source once: if a rotation replaced the
    credentials since they were read (and revoked the old client), the new ones are used.
    """
    from ..tokens._consumer import get_token

    source = source_for(settings)
    credentials = source.load(settings)
    try:
        return get_token(credentials, settings, min_ttl=min_ttl, use_cache=use_cache)
    except CredentialsRejected:
        latest = source.load(settings)
        if latest == credentials:
            raise
        return get_token(latest, settings, min_ttl=min_ttl, use_cache=use_cache)


def get_session(
    credentials: AppCredentials | None = None,
    settings: Settings | None = None,
    *,
    policy: RetryPolicy | None = None,
    min_ttl: float = DEFAULT_MIN_TTL,
    use_cache: bool = True,
) -> OAuth2Session:
    """
    Return an authlib ``OAuth2Session`` that gets and renews its own token.

    Like py-spatiafi's ``get_session()``, but for any auth URL, with request timeouts and
    token requests retried within the deadline (*policy*: ours by default). Tokens come
    from the token cache, as ``spatiafi-ops token``'s do (*use_cache* False: a fresh one
    per session), and are renewed when less than *min_ttl* is left. API requests are
    yours to retry.
    """
    from ._mint import open_session  # requests + authlib: only when a session is asked for

    settings = settings if settings is not None else Settings.from_env()
    if credentials is None:
        credentials = load_credentials(settings)
    settings = settings.resolve(credentials.auth_url)
    chosen = credentials
    resolved = settings

    def cached() -> AccessToken:
        token, _cached = get_token(chosen, resolved, min_ttl=min_ttl, policy=policy)
        return token

    return open_session(
        credentials, settings, policy, min_ttl=min_ttl, cached=cached if use_cache else None
    )
