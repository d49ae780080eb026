"""
The rotation function driven as Secrets Manager drives it, against moto's server: RotateSecret
names a stand-in Lambda (moto makes the AWSPENDING version and enables rotation, then cannot
invoke it), and the test calls the handler's steps in the service's order, with retries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from spatiafi_ops._errors import LoginRequired, SecretStoreRefused, UsageError
from spatiafi_ops.aws_rotation import handler
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.aws.test_secret_store import CREATE_ROUTE, labels, live
from tests.conftest import RecordingRunner

STAND_IN = "arn:aws:lambda:eu-west-1:123456789012:function:spatiafi-rotation"


def start_rotation(reader: Any, name: str) -> str:
    """
    Call RotateSecret as the schedule would; return the token of its AWSPENDING version.
    """
    token = str(uuid.uuid4())
    with pytest.raises(reader.exceptions.ResourceNotFoundException):
        # moto adds the version and enables rotation, then finds no function to invoke.
        reader.rotate_secret(
            SecretId=name,
            ClientRequestToken=token,
            RotationLambdaARN=STAND_IN,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
    return token


def step(name: str, token: str, which: str) -> None:
    handler({"SecretId": name, "ClientRequestToken": token, "Step": which}, None)


def rotate(reader: Any, name: str, service: EmulatorHandle) -> str:
    """
    Run one rotation with every step retried once; check at most two clients live each time.
    """
    token = start_rotation(reader, name)
    for which in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        step(name, token, which)
        assert len(live(service)) <= 2
        step(name, token, which)  # a retry: Secrets Manager retries any failed rotation
        assert len(live(service)) <= 2
    return token


@pytest.fixture(name="rotating")
def _rotating(runner: RecordingRunner, store_service: EmulatorHandle) -> str:
    """
    A secret holding credentials that `credentials create --store` made; its client id.
    """
    created = runner.run(["credentials", "create"])
    assert created.exit_code == 0, created.stderr
    return str(store_service.clients()[0]["client_id"])


def test_a_rotation_ends_as_the_cli_leaves_it(
    rotating: str, store_service: EmulatorHandle, reader: Any, secret_name: str
) -> None:
    """
    One client is created however often each step runs; AWSCURRENT holds it, AWSPREVIOUS
    the old one (both live, as after `credentials rotate`), and no AWSPENDING is left.
    """
    creates = store_service.count(CREATE_ROUTE)

    rotate(reader, secret_name, store_service)

    assert store_service.count(CREATE_ROUTE) == creates + 1
    held = labels(reader, secret_name)
    assert held["AWSPREVIOUS"] == rotating
    assert set(held) == {"AWSCURRENT", "AWSPREVIOUS"}
    assert live(store_service) == {held["AWSCURRENT"], rotating}


def test_two_rotations_in_a_row_keep_two_clients(
    rotating: str, store_service: EmulatorHandle, reader: Any, secret_name: str
) -> None:
    """The second rotation revokes the first one's previous client before it creates."""
    rotate(reader, secret_name, store_service)
    middle = labels(reader, secret_name)["AWSCURRENT"]

    rotate(reader, secret_name, store_service)

    held = labels(reader, secret_name)
    assert held["AWSPREVIOUS"] == middle
    assert live(store_service) == {held["AWSCURRENT"], middle}
    assert rotating not in live(store_service)


def test_the_checks_of_aws_template(
    rotating: str, store_service: EmulatorHandle, reader: Any, secret_name: str
) -> None:
    """
    Rotation disabled, a token that is no version, a version that is not pending: refused;
    a token already AWSCURRENT: nothing to do; an unknown step: a usage error.
    """
    current = reader.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    current_version = next(v for v, s in current.items() if "AWSCURRENT" in s)
    with pytest.raises(SecretStoreRefused, match="not enabled"):
        step(secret_name, current_version, "createSecret")
    token = start_rotation(reader, secret_name)
    with pytest.raises(SecretStoreRefused, match="not a version"):
        step(secret_name, str(uuid.uuid4()), "createSecret")
    with pytest.raises(UsageError):
        step(secret_name, token, "rotateSecret")
    creates = store_service.count(CREATE_ROUTE)

    step(secret_name, current_version, "createSecret")

    assert store_service.count(CREATE_ROUTE) == creates


def test_the_login_may_come_from_a_second_secret(
    rotating: str,
    store_service: EmulatorHandle,
    reader: Any,
    secret_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SPATIAFI_LOGIN_SECRET_ID names a secret holding {"username", "password"}."""
    login = f"{secret_name}-login"
    reader.create_secret(
        Name=login,
        SecretString=json.dumps({"username": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD}),
    )
    monkeypatch.delenv("SPATIAFI_USERNAME")
    monkeypatch.delenv("SPATIAFI_PASSWORD")
    monkeypatch.setenv("SPATIAFI_LOGIN_SECRET_ID", login)

    rotate(reader, secret_name, store_service)

    assert labels(reader, secret_name)["AWSPREVIOUS"] == rotating


def test_without_a_login_the_step_fails_before_any_change(
    rotating: str,
    store_service: EmulatorHandle,
    reader: Any,
    secret_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No login at all: createSecret raises LoginRequired and nothing is created."""
    monkeypatch.delenv("SPATIAFI_PASSWORD")
    token = start_rotation(reader, secret_name)
    creates = store_service.count(CREATE_ROUTE)

    with pytest.raises(LoginRequired):
        step(secret_name, token, "createSecret")

    assert store_service.count(CREATE_ROUTE) == creates
    assert labels(reader, secret_name) == {"AWSCURRENT": rotating, "AWSPENDING": "empty"}
