"""
The verbs that change credentials: create, ensure, rotate, revoke. Each decides *whether* to
change, under the profile lock, after finishing whatever an earlier run left; the engine
(``_engine``) does the change. They return results and never print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._config import Settings
from .._errors import (
    CredentialFileError,
    CredentialsExist,
    CredentialsRejected,
    LocalStateError,
    RequestRejected,
    SwitchLost,
    UsageError,
)
from .._files import exclusive_lock
from .._models import Action, AppCredentials, ProvisionResult, format_timestamp
from ..credentials._store import Store, profile_store, record_profile_store
from ._context import Policy, RunContext
from ._engine import Engine, Report
from ._plan import plan_ensure, plan_rotation, rotation_due
from ._result import build_result, changed_result, lock_held_result, logged_run
from ._secrets_manager import ProfileStore, SecretsManagerStore, store_secret_id
from ._service import HttpService, mints
from ._state import RotationState
from ._store import FileStore

DEFAULT_POLICY = Policy()


def _for_profile(ctx: RunContext) -> tuple[RunContext, ProfileStore]:
    """
    Return *ctx* with the auth URL of its profile (the URL its credentials, or those of an
    interrupted change, were created at), and the profile's store: the config directory,
    or the secret ``settings.store`` names.
    """
    spec = profile_store(ctx.settings)
    if spec is not None:
        secret = SecretsManagerStore(store_secret_id(spec), ctx.settings._replace(store=spec))
        stored = secret.read()  # the store itself needs no auth URL: it stays as it is
        settings = ctx.settings.resolve(stored.auth_url if stored is not None else None)
        return ctx.with_settings(settings), secret
    store = Store(ctx.settings)
    stored = store.read()
    url = stored.auth_url if stored is not None else None
    if url is None and ctx.settings.auth_url is None:
        journal = RotationState.load(store.paths).rotation
        known = [c for c in (journal.pending, journal.old) if c is not None] if journal else []
        url = next((c.auth_url for c in known if c.auth_url), None)
    settings = ctx.settings.resolve(url)
    return ctx.with_settings(settings), Store(settings)


def _logged(
    command: str,
    ctx: RunContext,
    policy: Policy,
    verb: Callable[[RunContext, Policy, ProfileStore], ProvisionResult],
) -> ProvisionResult:
    """
    Run *verb* on the context's profile (its auth URL resolved), with its one log line.

    A change whose switch another replica won (a shared store) ends well: the store holds
    a working client, and the change revoked its own.
    """
    with logged_run(command, ctx.settings.profile) as finished:
        ctx, store = _for_profile(ctx)
        if policy.dry_run and not isinstance(store, Store):
            raise UsageError("--dry-run reads the local journal; it cannot be used with --store")
        try:
            result = verb(ctx, policy, store)
        except SwitchLost as exc:
            result = build_result(
                store,
                "unchanged",
                store.read(),
                reason="rotated by another replica first; a client this run made is revoked",
                report=Report(revoked=list(exc.revoked)),
            )
        finished(result)
    return result


@contextmanager
def _locked(store: ProfileStore, wait: float) -> Iterator[bool]:
    """
    Hold the profile's lock, waiting up to *wait* seconds; yield False if another holds it.

    A secret has no lock: its compare-and-swap makes concurrent changes safe, and a create
    another replica has in flight only says that this run would waste one.

    Raises:
        LockTimeout: when *wait* > 0 and the lock stayed held that long.
    """
    if not isinstance(store, Store):
        yield store.busy() is None
        return
    with exclusive_lock(store.paths.lock, wait=wait) as acquired:
        yield acquired


@contextmanager
def _engine(ctx: RunContext, policy: Policy, store: ProfileStore) -> Iterator[Engine]:
    """
    Open the service of one profile run (one deadline) and the engine over its journal.
    """
    deadline = ctx.new_deadline()
    with HttpService(ctx, policy.retry, deadline) as service:
        kept = FileStore(store) if isinstance(store, Store) else store
        yield Engine(ctx, policy, kept, service, deadline)


def _resume(engine: Engine, policy: Policy, store: ProfileStore) -> ProvisionResult | None:
    """
    Finish what an earlier run left; return its result, or ``None`` if nothing was left.

    Each step checks its post-condition first: resuming never creates again. A result
    whose action is "revoked" finished only the DELETEs of an earlier, closed change.
    """
    journal = engine.finish()
    if journal is None and not engine.resumed_revocations:
        return None
    engine.settle()
    if journal is None:
        return build_result(
            store,
            "revoked",
            store.read(),
            state=engine.state,
            report=engine.report,
            reason="finished an interrupted revocation",
            resumed=True,
        )
    return changed_result(store, journal, store.require(), engine.state, engine.report)


def create_credentials(ctx: RunContext, policy: Policy = DEFAULT_POLICY) -> ProvisionResult:
    """
    Create app credentials and store them in the profile, through the journal.

    Refuses to replace stored credentials unless ``policy.force``; the replaced client is
    revoked after ``policy.grace`` when ``policy.revoke_old``, else kept in the backups and
    listed in ``manual_revoke_client_ids``. An interrupted earlier change is finished
    instead (never a second create).

    Raises:
        CredentialsExist: when the profile holds credentials and ``policy.force`` is false.
    """
    return _logged("create", ctx, policy, _create)


def _create(ctx: RunContext, policy: Policy, store: ProfileStore) -> ProvisionResult:
    wait = ctx.settings.deadline if policy.wait is None else policy.wait
    with _locked(store, wait) as acquired, _engine(ctx, policy, store) as engine:
        if not acquired:
            return lock_held_result(store)
        if policy.exclusive_account:
            engine.declare_exclusive_account()
        resumed = _resume(engine, policy, store)
        if resumed is not None:
            return resumed  # the interrupted create (or replace) is this one: never a second
        current = store.read()
        if current is not None and not policy.force:
            raise CredentialsExist(
                f"profile {store.profile!r} already holds credentials (client "
                f"{current.client_id}); use 'credentials ensure' to keep them, "
                "or 'credentials create --force' to replace them",
                path=str(store.paths.credentials),
            )
        journal, new = engine.change("replace" if current is not None else "create", current)
        if isinstance(store, SecretsManagerStore):
            _remember_store(store, engine)
        reason = "replaced on request (--force)" if current else "the profile held no credentials"
        return changed_result(store, journal, new, engine.state, engine.report, reason=reason)


def _remember_store(store: SecretsManagerStore, engine: Engine) -> None:
    """
    Make the secret the profile's own setting (best effort: a read-only config dir, as in
    a container, keeps working with --store or SPATIAFI_STORE).
    """
    try:
        record_profile_store(store.settings)
    except (LocalStateError, OSError) as exc:
        engine.report.warnings.append(
            f"the profile's store setting was not written ({exc}); keep passing --store"
        )


def ensure_credentials(ctx: RunContext, policy: Policy = DEFAULT_POLICY) -> ProvisionResult:
    """
    Make sure the profile holds credentials that mint a token.

    Working credentials cost one token request and nothing else: no login, no write.
    Missing ones are created; rejected ones replaced (and kept in the backups), unless the
    service still lists the rejected client, or rejected the last new client too: then a
    new client would fare no better, and ensure reports it instead of churning clients.
    Transient failures and clock problems raise, never taken for a rejection. Another
    run's lock is waited for (``policy.wait``, default the deadline), since ensure
    promises working credentials when it returns, not that someone else is working on it.
    """
    return _logged("ensure", ctx, policy, _ensure)


def _ensure(ctx: RunContext, policy: Policy, store: ProfileStore) -> ProvisionResult:
    deadline = ctx.new_deadline()
    current = store.read()
    wait = ctx.settings.deadline if policy.wait is None else policy.wait
    if policy.exclusive_account and not policy.dry_run:
        declare_exclusive_account(ctx.settings)
    if current is not None and mints(current, ctx, policy.retry, deadline):
        return _keep(ctx, policy, store, current, wait)
    if policy.dry_run:
        assert isinstance(store, Store)  # _logged refuses --dry-run with --store
        return plan_ensure(store, ctx.settings, current, policy)
    with _locked(store, wait) as acquired, _engine(ctx, policy, store) as engine:
        if not acquired:
            return lock_held_result(store)
        resumed = _resume(engine, policy, store)
        if resumed is not None and resumed.action != "revoked":
            return resumed
        latest = store.read()
        changed = latest is not None and (current is None or latest.client_id != current.client_id)
        if changed and latest is not None and mints(latest, ctx, policy.retry, deadline):
            return build_result(store, "unchanged", latest, reason="another run replaced them")
        if latest is not None:
            _refuse_churn(engine, latest)
        journal, new = engine.change("repair" if latest is not None else "create", latest)
    reason = (
        "the stored credentials were rejected" if journal.old else "the profile held no credentials"
    )
    return changed_result(store, journal, new, engine.state, engine.report, reason=reason)


def _keep(
    ctx: RunContext, policy: Policy, store: ProfileStore, current: AppCredentials, wait: float
) -> ProvisionResult:
    """
    Return ensure's result for working credentials: unchanged, once every sink has them.
    """
    reason = "the stored credentials mint a token"
    if policy.dry_run or not policy.publish:
        action: Action = "planned" if policy.dry_run else "unchanged"
        return build_result(store, action, current, reason=reason)
    with _locked(store, wait) as acquired, _engine(ctx, policy, store) as engine:
        if acquired:
            engine.settle()  # a sink that lacks them gets them; none is written twice
        return build_result(store, "unchanged", current, report=engine.report, reason=reason)


def _refuse_churn(engine: Engine, rejected: AppCredentials) -> None:
    """
    Stop a repair that could only create clients the service rejects the same way.

    Raises:
        CredentialsRejected: when the last new client was rejected too, or the service
            still lists the client it rejects (the fault is not the client's).
    """
    profile = engine.store.profile
    last = engine.state.rejected_repair
    if last is not None:
        raise CredentialsRejected(
            f"the credentials of profile {profile!r} are rejected, and so was the new client "
            f"{last.client_id} made at {format_timestamp(last.at)}; no other client is "
            "created until one is accepted: check the account, then run "
            "'credentials create --force'"
        )
    listed, _ = engine.service.listing()
    if listed is not None and rejected.client_id in {client.client_id for client in listed}:
        raise CredentialsRejected(
            f"the service rejects client {rejected.client_id} of profile {profile!r} although "
            "it still lists it, so a new client would be rejected the same way; nothing was "
            "changed: check the stored secret and this machine's clock (spatiafi-ops doctor), "
            "or replace the credentials with 'credentials create --force'"
        )


def rotate_credentials(ctx: RunContext, policy: Policy = DEFAULT_POLICY) -> ProvisionResult:
    """
    Replace the profile's credentials once they are ``policy.max_age`` old, resumably.

    Create → journal → verify → switch → revoke the old client after ``policy.grace``, now
    or in a later run. A held lock means another run is rotating: that is success.

    Raises:
        LockTimeout: only when ``policy.wait`` > 0 and the lock stayed held that long.
    """
    return _logged("rotation", ctx, policy, _rotate)


def _rotate(ctx: RunContext, policy: Policy, store: ProfileStore) -> ProvisionResult:
    if policy.dry_run:
        assert isinstance(store, Store)  # _logged refuses --dry-run with --store
        return plan_rotation(store, ctx.settings, policy)
    wait = 0.0 if policy.wait is None else policy.wait
    with _locked(store, wait) as acquired, _engine(ctx, policy, store) as engine:
        if not acquired:
            return lock_held_result(store)
        resumed = _resume(engine, policy, store)
        if resumed is not None and resumed.action != "revoked":
            return resumed
        current = store.read()
        if current is None:
            raise CredentialFileError(
                f"profile {store.profile!r} holds no credentials to rotate; create them with "
                f"'spatiafi-ops --profile {store.profile} credentials ensure'",
                path=str(store.paths.credentials),
            )
        state = engine.state
        if state.previous is not None:
            # The previous client waits for the sinks to have the current one: publish what
            # is missing first (with no previous, a rotation due now publishes its own).
            engine.settle()
        due, reason = rotation_due(current, policy.max_age, state.previous)
        if not due:
            engine.settle()
            action: Action = "revoked" if engine.report.revoked else "unchanged"
            return build_result(
                store,
                action,
                current,
                state=state,
                report=engine.report,
                reason=reason,
                resumed=engine.resumed_revocations,
            )
        _refuse_repeat(engine)
        journal, new = engine.change("rotate", current)
        return changed_result(store, journal, new, engine.state, engine.report, reason=reason)


def _refuse_repeat(engine: Engine) -> None:
    """
    Stop a rotation that would create a client right after the service rejected one.
    """
    last = engine.state.rejected_repair
    if last is not None:
        raise CredentialsRejected(
            f"the last new client {last.client_id} of profile {engine.store.profile!r} was "
            f"rejected by the service at {format_timestamp(last.at)}; no other client is "
            "created until one is accepted: check the account, then run "
            "'credentials create --force'"
        )


def revoke_credentials(
    ctx: RunContext, client_id: str, policy: Policy = DEFAULT_POLICY
) -> ProvisionResult:
    """
    Revoke one client at the service, refusing the profile's working one unless
    ``policy.force``.

    Raises:
        CredentialsExist: for the current (or an unfinished change's new) client.
        RequestRejected: when the service cannot delete clients.
    """

    def revoke(ctx: RunContext, policy: Policy, store: ProfileStore) -> ProvisionResult:
        wait = ctx.settings.deadline if policy.wait is None else policy.wait
        with _locked(store, wait), _engine(ctx, policy, store) as engine:
            return _revoke(engine, store, client_id, force=policy.force)

    return _logged("revocation", ctx, policy, revoke)


def _revoke(engine: Engine, store: ProfileStore, client_id: str, *, force: bool) -> ProvisionResult:
    settings = engine.settings
    current = store.read()
    existed = engine.revoke_by_hand(client_id, force=force)
    if existed is None:
        raise RequestRejected(
            f"the service at {settings.url} cannot delete clients; revoke client "
            f"{client_id} by hand",
            url=settings.url,
        )
    reason = None if existed else f"client {client_id} was already gone"
    return build_result(
        store, "revoked", current, state=engine.state, report=engine.report, reason=reason
    )


def declare_exclusive_account(settings: Settings) -> None:
    """
    Record in the profile that no other machine creates clients on its account (so a lost
    create's client may be revoked; ``credentials import --exclusive-account``).
    """
    store = Store(settings)
    with _locked(store, settings.deadline):
        files = FileStore(store)
        state = files.load_journal()
        if not state.exclusive_account:
            state.exclusive_account = True
            files.save_journal(state)
