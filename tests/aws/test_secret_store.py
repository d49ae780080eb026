"""
`--store aws-secretsmanager:ID`: the profile's credentials and journal in one secret, against
moto's server and a dedicated emulator (its live clients are this test's alone).
"""

from __future__ import annotations

import json
from typing import Any

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner

ROTATE = ["credentials", "rotate", "--max-age", "0", "--grace", "0"]


def labels(reader: Any, name: str) -> dict[str, str]:
    """
    Return label → the client id its version holds (the planned journal: "planned").
    """
    found = {}
    for version in reader.list_secret_version_ids(SecretId=name)["Versions"]:
        for label in version.get("VersionStages", []):
            value = reader.get_secret_value(SecretId=name, VersionId=version["VersionId"])
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
