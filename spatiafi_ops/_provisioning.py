"""
Provisioning: create app credentials and store them; returns results, never prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from . import _log
from ._api import create_client, user_token
from ._config import Settings
from ._errors import CredentialsExist, LockTimeout
from ._files import exclusive_lock
from ._http import DEFAULT_RETRY_POLICY, Deadline, HttpClient, RetryPolicy
from ._models import AccessToken, AppCredentials, ProvisionResult, UserLogin
from ._store import Store
from ._token_cache import TokenCache

log = _log.get_logger(__name__)


def http_client(settings: Settings, policy: RetryPolicy = DEFAULT_RETRY_POLICY) -> HttpClient:
    """
    Return a client bounded by the settings' timeout and deadline.
    """
    return HttpClient(timeout=settings.timeout, deadline=Deadline(settings.deadline), policy=policy)


def login(http: HttpClient, settings: Settings, user: UserLogin) -> AccessToken:
    """
    Return a user token for *user* (HTTP Basic).
    """
    return user_token(http, settings.auth_url, user.username, user.password)


@contextmanager
def profile_lock(store: Store, *, wait: float) -> Iterator[None]:
    """
    Hold the profile's lock, waiting up to *wait* seconds for it.

    Raises:
        LockTimeout: when another run holds it (immediately if *wait* is 0).
    """
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        if not acquired:
            raise LockTimeout(
                f"another run holds the lock of profile {store.profile!r} ({store.paths.lock})",
                path=str(store.paths.lock),
            )
        yield


def create_credentials(
    settings: Settings,
    user: UserLogin,
    *,
    force: bool = False,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> ProvisionResult:
    """
    Create app credentials and store them in the profile, the secret written at once.

    Refuses to replace stored credentials unless *force*; the replaced ones are kept as
    a backup and stay valid at the service.

    Raises:
        CredentialsExist: when the profile holds credentials and *force* is false.
    """
    store = Store(settings)
    with profile_lock(store, wait=settings.deadline):
        previous = store.read()
        if previous is not None and not force:
            raise CredentialsExist(
                f"profile {store.profile!r} already holds credentials (client "
                f"{previous.client_id}); use 'credentials ensure' to keep them, "
                "or 'credentials create --force' to replace them",
                path=str(store.paths.credentials),
            )
        with http_client(settings, policy) as http:
            token = login(http, settings, user)
            created = create_client(http, settings.auth_url, token)
        credentials = AppCredentials(
            client_id=created.client_id,
            client_secret=created.client_secret,
            user_id=created.user_id,
            created_at=time.time(),
            auth_url=settings.auth_url,
        )
        if previous is not None:
            store.backup(previous)
        store.write(credentials)
        if previous is not None:
            TokenCache(settings.resolved_cache_dir()).discard(settings.auth_url, previous)
    action = "replaced" if previous is not None else "created"
    log.info("credentials_created", profile=store.profile, client_id=credentials.client_id, action=action)
    return ProvisionResult(
        profile=store.profile,
        action=action,
        client_id=credentials.client_id,
        previous_client_id=previous.client_id if previous is not None else None,
        created_at=credentials.created_at,
    )
