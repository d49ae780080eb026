"""
Dry runs: what ensure and rotate would do, from local state only; and when a rotation is due.
"""

from __future__ import annotations

import time

from .._config import Settings
from .._durations import format_duration
from .._models import AppCredentials, ProvisionResult
from .._models import format_timestamp as _ts
from ..credentials._store import Store
from ._context import Policy
from ._result import build_result
from ._state import Journal, Previous, RotationState

CREATE_STEP = "create a new client and journal its secret"
VERIFY_STEP = "verify it by minting a token"


def describe_journal(journal: Journal) -> list[str]:
    """
    Return the steps that resuming *journal* would take, for ``--dry-run`` (no secrets).
    """
    steps = []
    if journal.phase == "planned":
        if journal.create_attempts:
            steps.append("reconcile a create whose answer was lost (list clients, revoke orphans)")
        steps.append(CREATE_STEP)
    new = journal.pending.client_id if journal.pending else "the new client"
    steps.append(f"verify {new} by minting a token, unless it is already current")
    old = journal.old_client_id
    steps.append(f"switch: {new} becomes current" + (f", {old} previous" if old else ""))
    return steps


def publish_steps(policy: Policy, client: str, have: frozenset[str] = frozenset()) -> list[str]:
    """
    Return a step per sink that lacks *client* (the sinks it would write, for --dry-run).
    """
    return [f"publish {client} to {s.target}" for s in policy.publish if s.target not in have]


def _published_targets(state: RotationState, current: AppCredentials) -> frozenset[str]:
    published = state.published
    if published is None or published.client_id != current.client_id:
        return frozenset()
    return frozenset(published.sinks)


def plan_ensure(
    store: Store, settings: Settings, current: AppCredentials | None, policy: Policy
) -> ProvisionResult:
    """
    Return what ensure would do for missing or rejected credentials: no further request.
    """
    state = RotationState.load(store.paths)
    if state.rotation is not None:
        plan = describe_journal(state.rotation)
    else:
        plan = [CREATE_STEP, VERIFY_STEP]
        if current is not None:
            plan.append(f"switch: the new client becomes current; {current.client_id} is backed up")
        else:
            plan.append("store the new client as the profile's credentials")
    plan += publish_steps(policy, "the new client")
    reason = "the stored credentials were rejected" if current else "the profile has none"
    return build_result(store, "planned", current, reason=reason, plan=tuple(plan))


def _about(seconds: float) -> str:
    """
    Return *seconds* rounded down to its largest whole unit, for reasons: ``40d``, ``3h``.
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def _old_enough(current: AppCredentials, max_age: float) -> tuple[bool, str]:
    if current.created_at is None:
        return True, "the current credential's age is unknown (no created_at)"
    age = time.time() - current.created_at
    limit = format_duration(max_age)
    if age < max_age:
        return False, f"the current credential is {_about(age)} old, younger than {limit}"
    return True, f"the current credential is {_about(age)} old, max age {limit}"


def rotation_due(
    current: AppCredentials, max_age: float, previous: Previous | None
) -> tuple[bool, str]:
    """
    Return whether *current* is old enough to rotate, and why.

    A *previous* client that still awaits revocation holds the rotation back.
    """
    due, reason = _old_enough(current, max_age)
    if due and previous is not None and previous.revoke_after is not None:
        client_id = previous.credentials.client_id
        return False, (
            f"the previous client {client_id} awaits revocation (grace ends "
            f"{_ts(previous.revoke_after)}); not rotating again before it is revoked, "
            "which a run with --revoke-old (the default) does once the grace has ended"
        )
    return due, reason


def _rotation_steps(current: AppCredentials, policy: Policy) -> list[str]:
    old = current.client_id
    if not policy.revoke_old:
        last = f"keep {old} (--keep-old)"
    elif policy.grace <= 0:
        last = f"revoke {old} now (no grace period)"
    else:
        last = f"revoke {old} after the {format_duration(policy.grace)} grace period"
    if policy.publish and policy.revoke_old:
        last += ", once every sink has the new client"
    return [
        CREATE_STEP,
        VERIFY_STEP,
        f"switch: the new client becomes current, {old} previous",
        f"invalidate the tokens cached for {old}",
        *publish_steps(policy, "the new client"),
        last,
    ]


def plan_rotation(store: Store, settings: Settings, policy: Policy) -> ProvisionResult:
    """
    Return what a rotation would do, from local state only: no request, no write.
    """
    state = RotationState.load(store.paths)
    current = store.require() if state.rotation is None else store.read()
    if state.rotation is not None:
        plan = describe_journal(state.rotation)
        return build_result(
            store,
            "planned",
            current,
            state=state,
            reason="a rotation was interrupted",
            plan=tuple(plan),
        )
    assert current is not None
    plan = publish_steps(policy, current.client_id, _published_targets(state, current))
    previous = state.previous
    now = time.time()
    if policy.revoke_old and previous and previous.revoke_after and now >= previous.revoke_after:
        plan.append(f"revoke the previous client {previous.credentials.client_id} (grace is over)")
        previous = None
    due, reason = rotation_due(current, policy.max_age, previous)
    if due:
        if previous is not None:
            plan.append(f"move the kept client {previous.credentials.client_id} to the backups")
        plan += _rotation_steps(current, policy)
    return build_result(store, "planned", current, state=state, reason=reason, plan=tuple(plan))
