"""
A run's outcome: its ProvisionResult, and its one canonical log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .. import _log
from .._errors import SpatiafiOpsError
from .._models import Action, AppCredentials, ProvisionResult
from .._redaction import scrub
from ._ledger import Report
from ._secrets_manager import ProfileStore, SecretsManagerStore
from ._state import Journal, Kind, RotationState

log = _log.get_logger(__name__)

ACTIONS: dict[Kind, Action] = {
    "create": "created",
    "replace": "replaced",
    "repair": "replaced",
    "rotate": "rotated",
}


def build_result(
    store: ProfileStore,
    action: Action,
    current: AppCredentials | None,
    *,
    reason: str | None,
    state: RotationState | None = None,
    report: Report | None = None,
    journal: Journal | None = None,
    previous_client_id: str | None = None,
    resumed: bool = False,
    plan: tuple[str, ...] = (),
) -> ProvisionResult:
    """
    Return the result of a run on *store*: *current* as its client, with what it did.

    The previous client and its revocation time come from *state*; the revoked, orphaned
    and hand-revoke ids and the warnings from *report*.
    """
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
        reason=reason,
        revoked_client_ids=tuple(report.revoked),
        manual_revoke_client_ids=tuple(report.manual),
        plan=plan,
        rotation_id=journal.rotation_id if journal is not None else None,
        resumed=resumed,
        revoke_after=previous.revoke_after if previous is not None else None,
        orphaned_client_ids=tuple(report.orphaned),
        warnings=tuple(report.warnings),
        published=tuple(report.published),
    )


def changed_result(
    store: ProfileStore,
    journal: Journal,
    current: AppCredentials,
    state: RotationState,
    report: Report,
    *,
    reason: str | None = None,
) -> ProvisionResult:
    """
    Return the result of a run that finished *journal*: its own (with the *reason* it
    started it), or an interrupted one (*reason* ``None``).
    """
    resumed = reason is None
    return build_result(
        store,
        ACTIONS[journal.kind],
        current,
        state=state,
        report=report,
        journal=journal,
        previous_client_id=journal.old_client_id,
        resumed=resumed,
        reason="finished an interrupted change" if resumed else reason,
    )


def lock_held_result(store: ProfileStore) -> ProvisionResult:
    """
    Return the result of a run that found the profile's lock held by another run.
    """
    # Another run holds the lock and is doing the work; that is success.
    reason = f"another run holds the lock of profile {store.profile!r}; it does the work"
    if isinstance(store, SecretsManagerStore):
        reason = f"another replica is creating a client for {store.target}; it does the work"
    return build_result(store, "unchanged", store.read(), reason=reason)


@contextmanager
def logged_run(command: str, profile: str) -> Iterator[Callable[[ProvisionResult], None]]:
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
