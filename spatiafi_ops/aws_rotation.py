"""
AWS Secrets Manager's rotation function for a SpatiaFi app credential (docs/aws-rotation.md).

Secrets Manager calls ``handler`` with ``{"SecretId", "ClientRequestToken", "Step"}`` for
``createSecret``, ``setSecret``, ``testSecret`` and ``finishSecret``, after ``RotateSecret``
made a version (id = the token) labelled AWSPENDING. The checks and the idempotent steps
follow AWS's template (aws-samples/aws-secrets-manager-rotation-lambdas,
``SecretsManagerRotationTemplate/lambda_function.py``); the steps run the engine that
``credentials rotate --store aws-secretsmanager:ID`` runs, over the same secret store:

- createSecret: revoke AWSPREVIOUS's client (at most two live: current and previous), then
  create a client and write it as the token's version, unless that version holds one;
- setSecret: nothing (the service made the client in createSecret);
- testSecret: mint a token with the pending client;
- finishSecret: verify, then move AWSCURRENT to the token's version (compare-and-swap).

The login that creates clients: ``SPATIAFI_USERNAME``/``SPATIAFI_PASSWORD``, or the JSON
``{"username", "password"}`` of the secret ``SPATIAFI_LOGIN_SECRET_ID`` names; the auth URL:
``SPATIAFI_AUTH_URL``. Every failure raises: Secrets Manager retries the rotation.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _log
from ._config import Settings
from ._errors import LoginRequired, SecretStoreRefused, UsageError
from ._models import UserLogin
from ._redaction import register_secret
from .rotation import Policy, RunContext
from .rotation._engine import Engine
from .rotation._secret_versions import CURRENT, PENDING, SecretVersions
from .rotation._secrets_manager import SecretsManagerStore
from .rotation._service import HttpService
from .rotation._state import Journal

log = _log.get_logger(__name__)

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# The previous client is revoked when the next rotation starts: Secrets Manager's schedule
# is the grace period (rotation-strategy "alternating users" in the AWS user guide).
POLICY = Policy(max_age=0.0, grace=0.0)


def handler(event: Mapping[str, Any], context: object) -> None:
    """
    Run one step of a rotation of the secret *event* names (Lambda's entry point).

    Raises:
        UsageError: for an event that is not a rotation step.
        SecretStoreRefused: when rotation is disabled, or the token is not a pending
            version of the secret.
        SpatiafiOpsError: whatever the step met; Secrets Manager retries.
    """
    del context
    secret_id, token = _field(event, "SecretId"), _field(event, "ClientRequestToken")
    step = _field(event, "Step")
    if step not in STEPS:
        raise UsageError(f"unknown rotation step {step[:40]!r}; expected one of {', '.join(STEPS)}")
    settings = lambda_settings(secret_id)
    store = SecretsManagerStore(secret_id, settings)
    if not _pending(store, token):
        return
    log.info("rotation_step", target=store.target, step=step, version=token)
    if step == "setSecret":
        return
    ctx = RunContext(settings, lambda: login(settings))
    deadline = ctx.new_deadline()
    with HttpService(ctx, POLICY.retry, deadline) as service:
        engine = Engine(ctx, POLICY, store, service, deadline)
        if step == "createSecret":
            _create(engine, store, token)
        elif step == "testSecret":
            found = store.version(token)
            if found is None or found.credentials is None:
                raise SecretStoreRefused(
                    f"{store.target}: version {token} holds no client; createSecret must run first",
                    target=store.target,
                )
            service.verify(found.credentials)
        else:
            _finish(engine, store, token)


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise UsageError(f"the rotation event has no {name}")
    return value


def lambda_settings(secret_id: str, environ: Mapping[str, str] | None = None) -> Settings:
    """
    Return the settings of a run in Lambda: ``SPATIAFI_*`` as everywhere, the secret as the
    store, and the config and cache dirs under the temporary dir (all Lambda can write).
    """
    settings = Settings.from_env(environ)
    scratch = Path(tempfile.gettempdir()) / "spatiafi-ops"
    return settings._replace(
        store=f"aws-secretsmanager:{secret_id}",
        config_dir=settings.config_dir or scratch / "config",
        cache_dir=settings.cache_dir or scratch / "cache",
    )


def login(settings: Settings, environ: Mapping[str, str] | None = None) -> UserLogin:
    """
    Return the login that creates clients: the secret ``SPATIAFI_LOGIN_SECRET_ID`` names,
    else ``SPATIAFI_USERNAME`` and ``SPATIAFI_PASSWORD``.

    Raises:
        LoginRequired: when neither is set.
        SecretStoreRefused: for a login secret that is not ``{"username", "password"}``.
    """
    env = os.environ if environ is None else environ
    secret_id = env.get("SPATIAFI_LOGIN_SECRET_ID", "").strip()
    if secret_id:
        store = SecretVersions(
            secret_id,
            budget=settings.deadline,
            allow_cleartext=settings.allow_insecure_transport,
        )
        try:
            data = json.loads(store.current_text())
            username, password = data["username"], data["password"]
            if not (isinstance(username, str) and isinstance(password, str) and password):
                raise ValueError("not strings")
        except (ValueError, TypeError, KeyError, RecursionError):
            raise SecretStoreRefused(
                f'{store.target} does not hold the login JSON {{"username", "password"}}',
                target=store.target,
            ) from None
        register_secret(password)
        return UserLogin(username, password)
    username, password = env.get("SPATIAFI_USERNAME", ""), env.get("SPATIAFI_PASSWORD", "")
    if not username or not password:
        raise LoginRequired(
            "no login to create clients with: set SPATIAFI_LOGIN_SECRET_ID, or "
            "SPATIAFI_USERNAME and SPATIAFI_PASSWORD"
        )
    register_secret(password)
    return UserLogin(username, password)


def _pending(store: SecretsManagerStore, token: str) -> bool:
    """
    Return whether the step has work: the token is the secret's AWSPENDING version (False:
    it is AWSCURRENT already, nothing to do).

    Raises:
        SecretStoreRefused: when rotation is disabled or the token is not pending.
    """
    labels = store.labels()
    if labels is None or not labels.rotation_enabled:
        raise SecretStoreRefused(
            f"{store.target}: rotation is not enabled (or there is no such secret)",
            target=store.target,
        )
    stages = labels.stages.get(token)
    if stages is None:
        raise SecretStoreRefused(
            f"{store.target}: {token} is not a version of the secret", target=store.target
        )
    if CURRENT in stages:
        log.info("rotation_already_current", target=store.target, version=token)
        return False
    if PENDING not in stages:
        raise SecretStoreRefused(
            f"{store.target}: version {token} is not {PENDING}", target=store.target
        )
    return True


def _create(engine: Engine, store: SecretsManagerStore, token: str) -> None:
    """
    Create the pending client once: a retry finds it in the token's version.
    """
    found = store.version(token)
    if found is not None and found.credentials is not None:
        return
    journal = engine.state.rotation
    if journal is None or journal.phase != "planned":
        if engine.state.previous is not None:
            engine.revoker.retire_previous(now=math.inf)
        if engine.state.previous is not None:
            raise SecretStoreRefused(
                f"{store.target}: the previous client "
                f"{engine.state.previous.credentials.client_id} could not be revoked; no "
                "third client is created (see the warnings above)",
                target=store.target,
            )
        journal = Journal(
            rotation_id=token,
            kind="rotate",
            phase="planned",
            started_at=time.time(),
            old=store.current(),
            revoke_old=POLICY.revoke_old,
            grace=POLICY.grace,
        )
    # else: a create whose answer was lost: its client is reconciled, never made twice.
    journal.rotation_id = token
    engine.create_pending(journal)


def _finish(engine: Engine, store: SecretsManagerStore, token: str) -> None:
    """
    Verify the pending client and move AWSCURRENT to it: the engine's own switch.
    """
    journal = engine.finish()
    if journal is None or journal.rotation_id != token:
        raise SecretStoreRefused(
            f"{store.target}: version {token} cannot become current (another change "
            "switched the secret since it was created); rotate again",
            target=store.target,
        )
