"""
Fleet rotation: every profile under the config dir, a few at a time; per-profile outcomes.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from . import _log
from ._config import Settings
from ._http import DEFAULT_RETRY_POLICY, RetryPolicy
from ._models import ProvisionResult
from ._provisioning import rotate_profile
from ._redaction import scrub
from ._remote import UserSource, UserTokens
from ._store import list_profiles, stored_client_ids

log = _log.get_logger(__name__)


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
    error: Exception | None = None

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
    # Read once: a profile's rotation never makes another profile hold its old client, so
    # this snapshot errs only towards keeping a client (manual revocation), never cutting one.
    holders = stored_client_ids(settings.resolved_config_dir())
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
            result = rotate_profile(
                settings._replace(profile=profile),
                tokens,
                local.session,
                max_age=max_age,
                grace=grace,
                revoke_old=revoke_old,
                dry_run=dry_run,
                wait=wait,
                policy=policy,
                holders=holders,
            )
        except Exception as exc:
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
