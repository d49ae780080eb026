"""
Fleet rotation: every profile under the config dir, a few at a time; per-profile outcomes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from .. import _log
from .._errors import SpatiafiOpsError
from .._models import ProvisionResult
from .._redaction import scrub
from ..credentials._store import ProfilePaths, list_profiles, profile_directories
from ._context import Policy, RunContext
from ._state import RotationState
from ._verbs import DEFAULT_POLICY, rotate_credentials

log = _log.get_logger(__name__)


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
    ctx: RunContext, policy: Policy = DEFAULT_POLICY, *, concurrency: int = 4
) -> list[ProfileOutcome]:
    """
    Rotate every profile under the config dir, *concurrency* at a time, each under its lock
    (a profile whose first create was interrupted is finished too).

    One login serves every profile (the context's); one profile's failure (a package
    error) never stops the others; anything else is a bug and propagates. Each profile
    gets its own ``settings.deadline``.
    """
    config_dir = ctx.settings.resolved_config_dir()
    profiles = list_profiles(config_dir)
    # A profile whose first create was interrupted holds a journal and no credentials yet.
    profiles += [
        paths.profile
        for paths in profile_directories(config_dir)
        if paths.profile not in profiles and _unfinished(paths)
    ]
    started = time.monotonic()
    # One keep-alive session per worker thread: no new connection (and server thread)
    # per profile. requests.Session is not shared between threads.
    local = threading.local()
    sessions: list[requests.Session] = []

    def one(profile: str) -> ProfileOutcome:
        if not hasattr(local, "session"):
            # HttpClient prepares it: proxies and CA bundle read once, by the transport.
            local.session = requests.Session()
            sessions.append(local.session)
        run = ctx.for_profile(profile).with_session(local.session)
        try:
            result = rotate_credentials(run, policy)
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


def _unfinished(paths: ProfilePaths) -> bool:
    """
    Return whether *paths* journals a change in progress (best effort: unreadable is no).
    """
    try:
        return RotationState.load(paths).rotation is not None
    except SpatiafiOpsError:
        return False


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
