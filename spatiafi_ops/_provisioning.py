"""
Provisioning: create, ensure, rotate and revoke app credentials; returns results, never prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from . import _log
from ._api import create_client, user_token
from ._config import Settings
from ._errors import (
    CredentialFileError,
    CredentialsExist,
    LockTimeout,
    RequestRejected,
)
from ._files import exclusive_lock
from ._http import DEFAULT_RETRY_POLICY, Deadline, HttpClient, RetryPolicy
from ._journal import Kind, RotationState
from ._models import AccessToken, Action, AppCredentials, ProvisionResult, UserLogin
from ._outcome import build_result, lock_held_result, logged_run
from ._plans import plan_ensure, plan_rotation, rotation_due
from ._remote import HttpService, UserSource, UserTokens, mints
from ._rotation import Rotator
from ._store import Store
from ._token_cache import TokenCache

log = _log.get_logger(__name__)

_KIND_ACTION: dict[str, Action] = {"rotate": "rotated", "replace": "replaced", "create": "created"}


def http_client(settings: Settings, policy: RetryPolicy = DEFAULT_RETRY_POLICY) -> HttpClient:
    """
    Return a client bounded by the settings' timeout and deadline.
    """
    return HttpClient(
        timeout=settings.timeout,
        deadline=Deadline(settings.deadline),
        policy=policy,
        allow_insecure_transport=settings.allow_insecure_transport,
    )


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
        if RotationState.load(store.paths).rotation is not None:
            raise CredentialsExist(
                f"profile {store.profile!r} has an unfinished rotation; run "
                "'credentials rotate' (or 'ensure') to finish it before creating others",
                path=str(store.paths.state),
            )
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
    action: Action = "replaced" if previous is not None else "created"
    log.info(
        "credentials_created", profile=store.profile, client_id=credentials.client_id, action=action
    )
    return ProvisionResult(
        profile=store.profile,
        action=action,
        client_id=credentials.client_id,
        previous_client_id=previous.client_id if previous is not None else None,
        created_at=credentials.created_at,
    )


def ensure_credentials(
    settings: Settings,
    user: UserSource,
    *,
    dry_run: bool = False,
    wait: float | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> ProvisionResult:
    """
    Make sure the profile holds credentials that mint a token (SPEC §3 ``ensure``).

    Working credentials cost one token request and nothing else: no login, no write.
    Missing ones are created; rejected ones replaced (and kept in the backups).
    Transient failures are retried and raised, never taken for a rejection. Another
    run's lock is waited for (*wait*, default the deadline), since ``ensure`` promises
    working credentials when it returns, not that someone else is working on them.
    """
    store = Store(settings)
    lock_wait = settings.deadline if wait is None else wait
    with logged_run("ensure", store.profile) as finished:
        result = _ensure(store, settings, UserTokens(user), dry_run, lock_wait, policy)
        finished(result)
    return result


def _ensure(
    store: Store,
    settings: Settings,
    tokens: UserTokens,
    dry_run: bool,
    wait: float,
    policy: RetryPolicy,
) -> ProvisionResult:
    # One deadline for the check and the repair (the wait for a lock is --wait's own).
    deadline = Deadline(settings.deadline)
    current = store.read()
    if current is not None and mints(current, settings, policy, deadline):
        action: Action = "planned" if dry_run else "unchanged"
        return build_result(store, action, current, reason="the stored credentials mint a token")
    if dry_run:
        return plan_ensure(store, settings, current)
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        if not acquired:
            return lock_held_result(store)
        with HttpService(settings, tokens, policy, deadline=deadline) as service:
            rotator = Rotator(store, service, settings)
            journal = rotator.state.rotation
            resumed = journal is not None
            if journal is None:
                latest = store.read()
                changed = latest is not None and (
                    current is None or latest.client_id != current.client_id
                )
                if changed and latest is not None and mints(latest, settings, policy, deadline):
                    return build_result(
                        store, "unchanged", latest, reason="another run replaced them"
                    )
                kind: Kind = "replace" if latest is not None else "create"
                journal = rotator.begin(kind, latest, revoke_old=False, grace=0.0)
            new = rotator.run(journal)
            rotator.finish(revoke_old=False)
    reason = (
        "the stored credentials were rejected"
        if journal.old_client_id
        else "the profile held no credentials"
    )
    return build_result(
        store,
        _KIND_ACTION[journal.kind],
        new,
        report=rotator.report,
        journal=journal,
        previous_client_id=journal.old_client_id,
        resumed=resumed,
        reason="finished an interrupted run" if resumed else reason,
    )


def rotate_credentials(
    settings: Settings,
    user: UserSource,
    *,
    max_age: float,
    grace: float,
    revoke_old: bool = True,
    dry_run: bool = False,
    wait: float = 0.0,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> ProvisionResult:
    """
    Replace the profile's credentials once they are *max_age* old (SPEC §5), resumably.

    Create → journal → verify → switch → revoke the old client after *grace*, now or in a
    later run. A held lock means another run is rotating: that is success, not an error.

    Raises:
        LockTimeout: only when *wait* > 0 and the lock stayed held that long.
    """
    return rotate_profile(
        settings,
        UserTokens(user),
        max_age=max_age,
        grace=grace,
        revoke_old=revoke_old,
        dry_run=dry_run,
        wait=wait,
        policy=policy,
    )


def rotate_profile(
    settings: Settings,
    tokens: UserTokens,
    session: requests.Session | None = None,
    **options: Any,
) -> ProvisionResult:
    """
    Rotate the profile of *settings* with a shared user token and session (``rotate`` options).
    """
    store = Store(settings)
    with logged_run("rotation", store.profile) as finished:
        result = _rotate(store, settings, tokens, session, **options)
        finished(result)
    return result


def _rotate(
    store: Store,
    settings: Settings,
    tokens: UserTokens,
    session: requests.Session | None,
    *,
    max_age: float,
    grace: float,
    revoke_old: bool,
    dry_run: bool,
    wait: float,
    policy: RetryPolicy,
    holders: Mapping[str, str] | None = None,
) -> ProvisionResult:
    if dry_run:
        return plan_rotation(store, settings, max_age=max_age, grace=grace, revoke_old=revoke_old)
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        if not acquired:
            return lock_held_result(store)
        with HttpService(settings, tokens, policy, session) as service:
            return _rotate_locked(
                store, Rotator(store, service, settings, holders), max_age, grace, revoke_old
            )


def _rotate_locked(
    store: Store, rotator: Rotator, max_age: float, grace: float, revoke_old: bool
) -> ProvisionResult:
    state = rotator.state
    journal = state.rotation
    if journal is not None:
        # Each step checks its post-condition first: resuming never creates again.
        new = rotator.run(journal)
        rotator.finish(revoke_old=revoke_old)
        return build_result(
            store,
            _KIND_ACTION[journal.kind],
            new,
            state=state,
            report=rotator.report,
            journal=journal,
            previous_client_id=journal.old_client_id,
            resumed=True,
            reason="finished an interrupted rotation",
        )
    current = store.read()
    if current is None:
        raise CredentialFileError(
            f"profile {store.profile!r} holds no credentials to rotate; create them with "
            f"'spatiafi-ops --profile {store.profile} credentials ensure'",
            path=str(store.paths.credentials),
        )
    rotator.finish(revoke_old=revoke_old)
    due, reason = rotation_due(current, max_age, state.previous)
    if not due:
        action: Action = "revoked" if rotator.report.revoked else "unchanged"
        return build_result(
            store, action, current, state=state, report=rotator.report, reason=reason
        )
    rotator.drop_kept_previous()
    journal = rotator.begin("rotate", current, revoke_old=revoke_old, grace=grace)
    new = rotator.run(journal)
    rotator.finish(revoke_old=revoke_old)
    return build_result(
        store,
        "rotated",
        new,
        state=state,
        report=rotator.report,
        journal=journal,
        previous_client_id=current.client_id,
        reason=reason,
    )


def revoke_credentials(
    settings: Settings,
    user: UserSource,
    client_id: str,
    *,
    force: bool = False,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> ProvisionResult:
    """
    Revoke one client at the service, refusing the profile's working one unless *force*.

    Raises:
        CredentialsExist: for the current (or an unfinished rotation's new) client.
        RequestRejected: when the service cannot delete clients.
    """
    store = Store(settings)
    with logged_run("revocation", store.profile) as finished:
        with (
            profile_lock(store, wait=settings.deadline),
            HttpService(settings, UserTokens(user), policy) as service,
        ):
            result = _revoke(store, settings, service, client_id, force=force)
        finished(result)
    return result


def _revoke(
    store: Store, settings: Settings, service: HttpService, client_id: str, *, force: bool
) -> ProvisionResult:
    rotator = Rotator(store, service, settings)
    state = rotator.state
    current = store.read()
    pending = state.rotation.pending if state.rotation is not None else None
    if not force and current is not None and current.client_id == client_id:
        raise CredentialsExist(
            f"client {client_id} is the current credential of profile {store.profile!r}; "
            "rotate first, or pass --force to revoke it anyway",
            path=str(store.paths.credentials),
        )
    if not force and pending is not None and pending.client_id == client_id:
        raise CredentialsExist(
            f"client {client_id} is the new client of an unfinished rotation of profile "
            f"{store.profile!r}; run 'credentials rotate' to finish it, or pass --force",
            path=str(store.paths.state),
        )
    existed = service.delete(client_id)
    if existed is None:
        raise RequestRejected(
            f"the service at {settings.auth_url} cannot delete clients; revoke client "
            f"{client_id} by hand",
            url=settings.auth_url,
        )
    cache = TokenCache(settings.resolved_cache_dir())
    for held in (current, state.previous.credentials if state.previous else None, pending):
        if held is not None and held.client_id == client_id:
            cache.discard(settings.auth_url, held)
    if state.previous is not None and state.previous.credentials.client_id == client_id:
        state.previous = None
    if pending is not None and pending.client_id == client_id:
        state.rotation = None
    if client_id in state.manual_revoke_client_ids:
        state.manual_revoke_client_ids.remove(client_id)
    if store.paths.state.exists():
        rotator.save()
    rotator.report.revoked.append(client_id)
    if current is not None and current.client_id == client_id:
        rotator.report.warnings.append(
            f"profile {store.profile!r} now holds a revoked credential; "
            "run 'credentials ensure' to replace it"
        )
    reason = None if existed else f"client {client_id} was already gone"
    return build_result(
        store, "revoked", current, state=state, report=rotator.report, reason=reason
    )
