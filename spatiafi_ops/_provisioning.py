"""
Provisioning: create, ensure, rotate and revoke app credentials; returns results, never prints.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from . import _log
from ._api import ClientInfo, create_client, delete_client, list_clients, user_token
from ._config import Settings
from ._durations import format_duration
from ._errors import (
    CredentialFileError,
    CredentialsExist,
    CredentialsRejected,
    LockTimeout,
    RequestRejected,
    SpatiafiOpsError,
)
from ._files import exclusive_lock
from ._http import DEFAULT_RETRY_POLICY, Deadline, HttpClient, RetryPolicy
from ._models import AccessToken, Action, AppCredentials, ProvisionResult, UserLogin
from ._models import format_timestamp as _ts
from ._redaction import scrub
from ._rotation import Journal, Kind, Report, RotationState, Rotator, describe_journal
from ._store import Store, list_profiles
from ._token_cache import TokenCache

log = _log.get_logger(__name__)

# The password is asked for only when a run needs the service's user routes.
UserSource = UserLogin | Callable[[], UserLogin]

# Verification retries a rejection of a brand-new client while it propagates (reference
# §1.6); separate from the transient-failure policy, which mint_token applies inside.
VERIFY_ATTEMPTS = 6
VERIFY_WINDOW = 20.0
VERIFY_FIRST_WAIT = 0.25
USER_TOKEN_MARGIN = 60.0
_KIND_ACTION: dict[str, Action] = {"rotate": "rotated", "replace": "replaced", "create": "created"}


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


class UserTokens:
    """
    A person's user token, fetched on first need and shared by the profiles of one run.

    Renewed when it nears its end (it lives 15 minutes); a rejected password is
    remembered, so that a fleet run does not retry it once per profile.
    """

    def __init__(self, user: UserSource) -> None:
        self._user = user
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._expires = 0.0
        self._failure: Exception | None = None

    def get(self, http: HttpClient, auth_url: str) -> AccessToken:
        """
        Return a user token with at least a minute left, logging in if needed.

        Raises:
            CredentialsRejected: for a bad password (and every later call, without asking).
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._token is None or time.time() > self._expires - USER_TOKEN_MARGIN:
                try:
                    if not isinstance(self._user, UserLogin):
                        self._user = self._user()  # may prompt, or fail for want of input
                    user = self._user
                    token = user_token(http, auth_url, user.username, user.password)
                except CredentialsRejected as exc:
                    self._failure = exc
                    raise
                except Exception as exc:
                    if not isinstance(self._user, UserLogin):
                        self._failure = exc  # no login to use: ask once, not per profile
                    raise
                now = time.time()
                self._expires = token.expires_at if token.expires_at > now else now + 600
                self._token = token
            return self._token


class _CreateGate:
    """
    The client ids this process created, and a gate that keeps a reconciliation from
    listing clients while one of our creates is in flight (fleet runs create in threads).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._listers = 0
        self._ids: set[str] = set()

    @contextmanager
    def creating(self) -> Iterator[Callable[[str], None]]:
        with self._cond:
            self._cond.wait_for(lambda: self._listers == 0)
            self._in_flight += 1
        try:
            yield self._record
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _record(self, client_id: str) -> None:
        with self._cond:
            self._ids.add(client_id)

    @contextmanager
    def listing(self, timeout: float) -> Iterator[Callable[[], frozenset[str]]]:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout)
            self._listers += 1
        try:
            yield lambda: frozenset(self._ids)
        finally:
            with self._cond:
                self._listers -= 1
                self._cond.notify_all()


_CREATES = _CreateGate()


class HttpService:
    """
    A rotation's remote calls for one profile run: its own connection pool and deadline.
    """

    def __init__(
        self,
        settings: Settings,
        tokens: UserTokens,
        policy: RetryPolicy,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.policy = policy
        self.deadline = Deadline(settings.deadline)
        self._session = session  # shared keep-alive connections (fleet), closed by the owner
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(
                timeout=self.settings.timeout,
                deadline=self.deadline,
                policy=self.policy,
                session=self._session,
            )
        return self._http

    def _user_token(self) -> AccessToken:
        return self.tokens.get(self.http, self.settings.auth_url)

    def login(self) -> None:
        self._user_token()

    def create(self) -> AppCredentials:
        token = self._user_token()
        with _CREATES.creating() as record:
            created = create_client(self.http, self.settings.auth_url, token)
            record(created.client_id)
        return created

    def reconcile_listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        token = self._user_token()
        with _CREATES.listing(self.deadline.remaining()) as created_here:
            listed = list_clients(self.http, self.settings.auth_url, token)
            return listed, created_here()

    def delete(self, client_id: str) -> bool | None:
        token = self._user_token()
        existed = delete_client(self.http, self.settings.auth_url, token, client_id)
        if existed is None:
            # A 404 "Not Found" is both FastAPI's "no such route" and "no such client":
            # a service that lists its clients without this one has deleted it already.
            listed = list_clients(self.http, self.settings.auth_url, token)
            if listed is not None and client_id not in {c.client_id for c in listed}:
                return False
        return existed

    def verify(self, credentials: AppCredentials) -> None:
        import tenacity

        from ._auth import mint_token

        # Retries CredentialsRejected only; mint_token retries transient failures itself.
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(CredentialsRejected),
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(VERIFY_ATTEMPTS),
                tenacity.stop_before_delay(min(VERIFY_WINDOW, self.deadline.remaining())),
            ),
            wait=tenacity.wait_exponential(multiplier=VERIFY_FIRST_WAIT, max=4.0),
            before_sleep=lambda state: log.info(
                "verification_retrying",
                client_id=credentials.client_id,
                attempt=state.attempt_number,
            ),
            reraise=True,
        )
        retrying(mint_token, credentials, self.settings, deadline=self.deadline, policy=self.policy)

    def close(self) -> None:
        if self._http is not None and self._session is None:
            self._http.close()


def _mints(credentials: AppCredentials, settings: Settings, policy: RetryPolicy) -> bool:
    """
    Return whether *credentials* mint a token; transient failures raise, never mean False.
    """
    from ._auth import mint_token

    try:
        mint_token(credentials, settings, policy=policy)
    except CredentialsRejected:
        return False
    return True


def _result(
    store: Store,
    action: Action,
    current: AppCredentials | None,
    *,
    state: RotationState | None = None,
    report: Report | None = None,
    journal: Journal | None = None,
    previous_client_id: str | None = None,
    **fields: Any,
) -> ProvisionResult:
    report = report if report is not None else Report()
    previous = state.previous if state is not None else None
    if previous_client_id is None and previous is not None:
        previous_client_id = previous.credentials.client_id
    return ProvisionResult(
        profile=store.profile,
        action=action,
        client_id=current.client_id if current is not None else None,
        previous_client_id=previous_client_id,
        created_at=current.created_at if current is not None else None,
        revoked_client_ids=tuple(report.revoked),
        manual_revoke_client_ids=tuple(report.manual),
        rotation_id=journal.rotation_id if journal is not None else None,
        revoke_after=previous.revoke_after if previous is not None else None,
        orphaned_client_ids=tuple(report.orphaned),
        warnings=tuple(report.warnings),
        **fields,
    )


def _locked(store: Store) -> ProvisionResult:
    # SPEC §5 step 1: another run holds the lock and is doing the work; that is success.
    return _result(
        store,
        "unchanged",
        store.read(),
        reason=f"another run holds the lock of profile {store.profile!r}; it does the work",
    )


@contextmanager
def _logged(command: str, profile: str) -> Iterator[Callable[[ProvisionResult], None]]:
    """
    Emit the one canonical log line of a run: its outcome, or its failure.
    """
    started = time.monotonic()

    def finished(result: ProvisionResult) -> None:
        log.info(
            f"{command}_finished",
            profile=result.profile,
            action=result.action,
            client_id=result.client_id,
            previous_client_id=result.previous_client_id,
            rotation_id=result.rotation_id,
            resumed=result.resumed,
            reason=result.reason,
            revoked=list(result.revoked_client_ids),
            manual_revoke=list(result.manual_revoke_client_ids),
            orphaned=list(result.orphaned_client_ids),
            duration_s=round(time.monotonic() - started, 3),
        )

    try:
        yield finished
    except SpatiafiOpsError as exc:
        log.error(
            f"{command}_failed",
            profile=profile,
            error=type(exc).__name__,
            detail=scrub(str(exc)),
            duration_s=round(time.monotonic() - started, 3),
        )
        raise


def ensure_credentials(
    settings: Settings,
    user: UserSource,
    *,
    dry_run: bool = False,
    wait: float = 0.0,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> ProvisionResult:
    """
    Make sure the profile holds credentials that mint a token (SPEC §3 ``ensure``).

    Working credentials cost one token request and nothing else: no login, no write.
    Missing ones are created; rejected ones replaced (and kept in the backups).
    Transient failures are retried and raised, never taken for a rejection.
    """
    store = Store(settings)
    with _logged("ensure", store.profile) as finished:
        result = _ensure(store, settings, UserTokens(user), dry_run, wait, policy)
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
    current = store.read()
    if current is not None and _mints(current, settings, policy):
        if dry_run:
            return _result(store, "planned", current, reason="the stored credentials mint a token")
        return _result(store, "unchanged", current, reason="the stored credentials mint a token")
    if dry_run:
        state = RotationState.load(store.paths, allow_insecure=settings.allow_insecure_permissions)
        if state.rotation is not None:
            plan = describe_journal(state.rotation)
        else:
            plan = ["create a new client and journal its secret", "verify it by minting a token"]
            if current is not None:
                plan.append(
                    f"switch: the new client becomes current; {current.client_id} is backed up"
                )
            else:
                plan.append("store the new client as the profile's credentials")
        reason = "the stored credentials were rejected" if current else "the profile has none"
        return _result(store, "planned", current, reason=reason, plan=tuple(plan))
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        if not acquired:
            return _locked(store)
        service = HttpService(settings, tokens, policy)
        try:
            rotator = Rotator(store, service, settings)
            journal = rotator.state.rotation
            resumed = journal is not None
            if journal is None:
                latest = store.read()
                changed = latest is not None and (
                    current is None or latest.client_id != current.client_id
                )
                if changed and latest is not None and _mints(latest, settings, policy):
                    return _result(store, "unchanged", latest, reason="another run replaced them")
                kind: Kind = "replace" if latest is not None else "create"
                journal = rotator.begin(kind, latest, revoke_old=False, grace=0.0)
            new = rotator.run(journal)
            rotator.finish(revoke_old=False)
        finally:
            service.close()
    reason = (
        "the stored credentials were rejected"
        if journal.old_client_id
        else "the profile held no credentials"
    )
    return _result(
        store,
        _KIND_ACTION[journal.kind],
        new,
        report=rotator.report,
        journal=journal,
        previous_client_id=journal.old_client_id,
        resumed=resumed,
        reason="finished an interrupted run" if resumed else reason,
    )


def _about(seconds: float) -> str:
    """
    Return *seconds* rounded down to its largest whole unit, for reasons: ``40d``, ``3h``.
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def _due(current: AppCredentials, max_age: float) -> tuple[bool, str]:
    """
    Return whether *current* is old enough to rotate, and why.
    """
    if current.created_at is None:
        return True, "the current credential's age is unknown (no created_at)"
    age = time.time() - current.created_at
    limit = format_duration(max_age)
    if age < max_age:
        return False, f"the current credential is {_about(age)} old, younger than {limit}"
    return True, f"the current credential is {_about(age)} old, max age {limit}"


def _rotation_steps(current: AppCredentials, *, grace: float, revoke_old: bool) -> list[str]:
    old = current.client_id
    if not revoke_old:
        last = f"keep {old} (--keep-old)"
    elif grace <= 0:
        last = f"revoke {old} now (no grace period)"
    else:
        last = f"revoke {old} after the {format_duration(grace)} grace period"
    return [
        "create a new client and journal its secret",
        "verify it by minting a token",
        f"switch: the new client becomes current, {old} previous",
        f"invalidate the tokens cached for {old}",
        last,
    ]


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
    return _rotate_logged(
        settings,
        UserTokens(user),
        max_age=max_age,
        grace=grace,
        revoke_old=revoke_old,
        dry_run=dry_run,
        wait=wait,
        policy=policy,
    )


def _rotate_logged(
    settings: Settings,
    tokens: UserTokens,
    session: requests.Session | None = None,
    **options: Any,
) -> ProvisionResult:
    store = Store(settings)
    with _logged("rotation", store.profile) as finished:
        result = _rotate(store, settings, tokens, session, **options)
        finished(result)
    return result


def _plan_rotation(
    store: Store, settings: Settings, *, max_age: float, grace: float, revoke_old: bool
) -> ProvisionResult:
    """
    Return what a rotation would do, from local state only: no request, no write.
    """
    state = RotationState.load(store.paths, allow_insecure=settings.allow_insecure_permissions)
    current = store.require() if state.rotation is None else store.read()
    if state.rotation is not None:
        plan = describe_journal(state.rotation)
        return _result(
            store,
            "planned",
            current,
            state=state,
            reason="a rotation was interrupted",
            plan=tuple(plan),
        )
    assert current is not None
    plan = []
    previous = state.previous
    now = time.time()
    if revoke_old and previous and previous.revoke_after and now >= previous.revoke_after:
        plan.append(f"revoke the previous client {previous.credentials.client_id} (grace is over)")
        previous = None
    due, reason = _due(current, max_age)
    if due and previous is not None and previous.revoke_after is not None:
        reason = _waiting_reason(previous.credentials.client_id, previous.revoke_after)
    elif due:
        if previous is not None:
            plan.append(f"move the kept client {previous.credentials.client_id} to the backups")
        plan += _rotation_steps(current, grace=grace, revoke_old=revoke_old)
    return _result(store, "planned", current, state=state, reason=reason, plan=tuple(plan))


def _waiting_reason(client_id: str, revoke_after: float) -> str:
    return (
        f"the previous client {client_id} awaits revocation (grace ends "
        f"{_ts(revoke_after)}); not rotating again before it is revoked"
    )


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
) -> ProvisionResult:
    if dry_run:
        return _plan_rotation(store, settings, max_age=max_age, grace=grace, revoke_old=revoke_old)
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        if not acquired:
            return _locked(store)
        service = HttpService(settings, tokens, policy, session)
        try:
            return _rotate_locked(
                store, Rotator(store, service, settings), max_age, grace, revoke_old
            )
        finally:
            service.close()


def _rotate_locked(
    store: Store, rotator: Rotator, max_age: float, grace: float, revoke_old: bool
) -> ProvisionResult:
    state = rotator.state
    journal = state.rotation
    if journal is not None:
        # Each step checks its post-condition first: resuming never creates again.
        new = rotator.run(journal)
        rotator.finish(revoke_old=revoke_old)
        return _result(
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
    due, reason = _due(current, max_age)
    previous = state.previous
    if due and previous is not None and previous.revoke_after is not None:
        due, reason = False, _waiting_reason(previous.credentials.client_id, previous.revoke_after)
    if not due:
        action: Action = "revoked" if rotator.report.revoked else "unchanged"
        return _result(store, action, current, state=state, report=rotator.report, reason=reason)
    rotator.drop_kept_previous()
    journal = rotator.begin("rotate", current, revoke_old=revoke_old, grace=grace)
    new = rotator.run(journal)
    rotator.finish(revoke_old=revoke_old)
    return _result(
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
    with _logged("revocation", store.profile) as finished:
        with profile_lock(store, wait=settings.deadline):
            service = HttpService(settings, UserTokens(user), policy)
            try:
                result = _revoke(store, settings, service, client_id, force=force)
            finally:
                service.close()
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
    return _result(store, "revoked", current, state=state, report=rotator.report, reason=reason)


def _fleet_session(auth_url: str) -> requests.Session:
    """
    Return a session with the environment's proxy and CA settings read once, not per request.

    SPEC §6: HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE work as in requests, which reads
    them on every request (a scan of os.environ: a sixth of a fleet run's CPU). Every
    request of a run goes to *auth_url*, so once is the same answer.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(auth_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


@dataclass(frozen=True)
class ProfileOutcome:
    """
    One profile's part of a fleet run: its result, or the error that stopped it.
    """

    profile: str
    result: ProvisionResult | None = None
    error: SpatiafiOpsError | None = None

    def to_dict(self) -> dict[str, Any]:
        """
        Return the result JSON, or ``{"profile", "action": null, "error", "error_type"}``.
        """
        if self.result is not None:
            return self.result.to_dict()
        return {
            "profile": self.profile,
            "action": None,
            "error": scrub(str(self.error)),
            "error_type": type(self.error).__name__,
        }


def rotate_all_profiles(
    settings: Settings,
    user: UserSource,
    *,
    max_age: float,
    grace: float,
    revoke_old: bool = True,
    dry_run: bool = False,
    wait: float = 0.0,
    concurrency: int = 4,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> list[ProfileOutcome]:
    """
    Rotate every profile under the config dir, *concurrency* at a time, each under its lock.

    One login serves every profile; one profile's failure never stops the others. Each
    profile gets its own ``settings.deadline``.
    """
    profiles = list_profiles(settings.resolved_config_dir())
    tokens = UserTokens(user)
    started = time.monotonic()
    # One keep-alive session per worker thread: no new connection (and server thread)
    # per profile. requests.Session is not shared between threads.
    local = threading.local()
    sessions: list[requests.Session] = []

    def one(profile: str) -> ProfileOutcome:
        if not hasattr(local, "session"):
            local.session = _fleet_session(settings.auth_url)
            sessions.append(local.session)
        try:
            result = _rotate_logged(
                settings._replace(profile=profile),
                tokens,
                local.session,
                max_age=max_age,
                grace=grace,
                revoke_old=revoke_old,
                dry_run=dry_run,
                wait=wait,
                policy=policy,
            )
        except SpatiafiOpsError as exc:
            return ProfileOutcome(profile, error=exc)
        return ProfileOutcome(profile, result=result)

    try:
        with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="rotate") as pool:
            outcomes = list(pool.map(one, profiles))
    finally:
        for session in sessions:
            session.close()
    summary = fleet_summary(outcomes)
    log.info(
        "fleet_rotation_finished",
        profiles=summary["total"],
        failed=summary["failed"],
        actions=summary["actions"],
        concurrency=concurrency,
        duration_s=round(time.monotonic() - started, 3),
    )
    return outcomes


def fleet_summary(outcomes: list[ProfileOutcome]) -> dict[str, Any]:
    """
    Return the aggregate result of a fleet run: every profile's result, and counts.
    """
    actions: dict[str, int] = {}
    for outcome in outcomes:
        key = outcome.result.action if outcome.result is not None else "failed"
        actions[key] = actions.get(key, 0) + 1
    return {
        "profiles": [outcome.to_dict() for outcome in outcomes],
        "total": len(outcomes),
        "failed": sum(outcome.error is not None for outcome in outcomes),
        "actions": actions,
    }
