"""
`--store aws-secretsmanager:ID`: the profile's credentials and journal in one secret, against
moto's server and a dedicated emulator (its live clients are this test's alone).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import SwitchLost
from spatiafi_ops._models import UserLogin
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from spatiafi_ops.rotation import Policy, RunContext, create_credentials, rotate_credentials
from spatiafi_ops.rotation._engine import Engine
from spatiafi_ops.rotation._secrets_manager import SecretsManagerStore
from spatiafi_ops.rotation._service import HttpService
from spatiafi_ops.rotation._state import Journal
from tests.conftest import RecordingRunner

ROTATE = ["credentials", "rotate", "--max-age", "0", "--grace", "0"]
LOGIN = UserLogin(DEFAULT_EMAIL, DEFAULT_PASSWORD)
CREATE_ROUTE = "POST /api/v1/clients/"


def labels(reader: Any, name: str) -> dict[str, str]:
    """
    Return label → the client id its version holds ("planned": a planned create's journal;
    "empty": RotateSecret's version before createSecret filled it).
    """
    found = {}
    for version in reader.list_secret_version_ids(SecretId=name)["Versions"]:
        for label in version.get("VersionStages", []):
            try:
                value = reader.get_secret_value(SecretId=name, VersionId=version["VersionId"])
            except reader.exceptions.ResourceNotFoundException:
                found[label] = "empty"
                continue
            found[label] = json.loads(value["SecretString"]).get("client_id", "planned")
    return found


def live(service: EmulatorHandle) -> set[str]:
    return {client["client_id"] for client in service.clients()}


def run_json(runner: RecordingRunner, args: list[str]) -> dict[str, Any]:
    result = runner.run(args)
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_create_then_rotate_keeps_everything_in_the_secret(
    runner: RecordingRunner, store_service: EmulatorHandle, reader: Any, secret_name: str
) -> None:
    """
    create writes AWSCURRENT (the secret made on first use); rotate moves it, AWSPREVIOUS
    keeps the old client until its grace ends; token mints from AWSCURRENT.
    """
    created = run_json(runner, ["credentials", "create"])
    assert labels(reader, secret_name)["AWSCURRENT"] == created["client_id"]
    assert runner.run(["token"]).exit_code == 0

    rotated = run_json(runner, ["credentials", "rotate", "--max-age", "0", "--grace", "1h"])

    assert rotated["action"] == "rotated"
    held = labels(reader, secret_name)
    assert held["AWSCURRENT"] == rotated["client_id"]
    assert held["AWSPREVIOUS"] == created["client_id"]
    assert "AWSPENDING" not in held
    assert "SPATIAFI_PLANNED" not in held
    assert live(store_service) == {created["client_id"], rotated["client_id"]}
    token = runner.run(["token", "--no-cache"])
    assert token.exit_code == 0, token.stderr


def test_a_rotation_after_the_grace_revokes_the_previous_client(
    runner: RecordingRunner, store_service: EmulatorHandle, reader: Any, secret_name: str
) -> None:
    """With no grace, the rotation revokes AWSPREVIOUS's client and drops the label."""
    created = run_json(runner, ["credentials", "create"])
    rotated = run_json(runner, ROTATE)

    assert rotated["revoked_client_ids"] == [created["client_id"]]
    assert live(store_service) == {rotated["client_id"]}
    assert labels(reader, secret_name) == {"AWSCURRENT": rotated["client_id"]}


def test_the_profile_remembers_its_store(
    runner: RecordingRunner,
    store_service: EmulatorHandle,
    reader: Any,
    secret_name: str,
    clean_environment: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    `--store` on `credentials create` becomes the profile's setting: commands naming the
    profile alone rotate and read the secret, and no credentials file is written.
    """
    monkeypatch.delenv("SPATIAFI_STORE")
    store = f"aws-secretsmanager:{secret_name}"

    created = run_json(runner, ["--profile", "prod", "--store", store, "credentials", "create"])
    rotated = run_json(runner, ["--profile", "prod", *ROTATE])
    token = runner.run(["--profile", "prod", "token"])

    assert rotated["client_id"] != created["client_id"]
    assert labels(reader, secret_name) == {"AWSCURRENT": rotated["client_id"]}
    assert token.exit_code == 0, token.stderr
    profile = clean_environment["config"] / "profiles" / "prod"
    assert (profile / "store").read_text() == f"{store}\n"
    assert not (profile / "app_credentials.json").exists()


def test_a_run_that_loses_the_swap_revokes_its_own_client(
    store_service: EmulatorHandle, reader: Any, secret_name: str, tmp_path: Path
) -> None:
    """
    A change whose store moved on while it ran (another replica switched first) raises
    SwitchLost, and the client it made is revoked; AWSCURRENT keeps the winner's.
    """
    settings = Settings.from_env()._replace(config_dir=tmp_path / "a", cache_dir=tmp_path / "ac")
    other = settings._replace(config_dir=tmp_path / "b", cache_dir=tmp_path / "bc")
    create_credentials(RunContext(settings, LOGIN))
    policy = Policy(max_age=0, grace=3600)
    ctx = RunContext(settings, LOGIN)
    store = SecretsManagerStore(secret_name, settings)
    deadline = ctx.new_deadline()
    with HttpService(ctx, policy.retry, deadline) as service:
        engine = Engine(ctx, policy, store, service, deadline)  # starts from AWSCURRENT now
        old = store.require()
        winner = rotate_credentials(RunContext(other, LOGIN), policy)

        with pytest.raises(SwitchLost) as lost:
            engine.change("rotate", old)

    assert labels(reader, secret_name)["AWSCURRENT"] == winner.client_id
    assert len(lost.value.revoked) == 1
    assert lost.value.revoked[0] not in live(store_service)
    assert live(store_service) == {old.client_id, winner.client_id}


def test_what_cannot_work_with_a_store_is_a_usage_error(
    runner: RecordingRunner, store_service: EmulatorHandle
) -> None:
    """A spec that names no store, or --dry-run (it reads the local journal): exit 2."""
    bad = runner.run(["--store", "vault:prod", "token"])
    dry = runner.run(["credentials", "rotate", "--dry-run"])

    assert bad.exit_code == 2
    assert "aws-secretsmanager:SECRET-ID" in bad.stderr
    assert dry.exit_code == 2
    assert "--dry-run" in dry.stderr
    assert store_service.count(CREATE_ROUTE) == 0


def test_a_live_replicas_stale_pending_client_is_left_to_it(
    store_service: EmulatorHandle, secret_name: str, tmp_path: Path
) -> None:
    """
    A pending client that can no longer switch, while the run that made it still runs, is
    not revoked by another run (that would fail its verification): its own run loses the
    swap and revokes it.
    """
    a, b, c = (
        Settings.from_env()._replace(config_dir=tmp_path / n, cache_dir=tmp_path / f"{n}c")
        for n in "abc"
    )
    create_credentials(RunContext(a, LOGIN))
    policy = Policy(max_age=0, grace=3600)
    ctx = RunContext(a, LOGIN)
    store = SecretsManagerStore(secret_name, a)
    deadline = ctx.new_deadline()
    with HttpService(ctx, policy.retry, deadline) as service:
        engine = Engine(ctx, policy, store, service, deadline)  # starts from AWSCURRENT now
        old = store.require()
        rotate_credentials(RunContext(b, LOGIN), policy)  # another replica switches first
        journal = Journal(str(uuid.uuid4()), "rotate", "planned", time.time(), old, True, 3600)
        pending = engine.create_pending(journal)  # AWSPENDING, based on the old AWSCURRENT

        third = rotate_credentials(RunContext(c, LOGIN), Policy())

        assert pending.client_id in live(store_service)
        assert pending.client_id not in third.revoked_client_ids
        with pytest.raises(SwitchLost):
            engine.finish()

    assert pending.client_id not in live(store_service)
