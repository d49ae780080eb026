"""
One rotator publishes to AWS Secrets Manager, consumers mint from what is AWSCURRENT:
`spatiafi-ops token` and the library against moto's server and the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spatiafi_ops._aws import SecretsManagerSink
from spatiafi_ops._config import Settings
from spatiafi_ops.credentials._sources import load_credentials
from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.tokens._consumer import token_from_source
from tests.aws.conftest import ScriptedAws, payload_for, use_aws
from tests.conftest import RecordingRunner

TOKEN_ROUTE = "POST /api/v1/auth/jwt/token"


@pytest.fixture(name="service")
def _service(
    spatiafi_emulator: EmulatorHandle, aws: str, monkeypatch: pytest.MonkeyPatch
) -> EmulatorHandle:
    """
    The emulator as SPATIAFI_AUTH_URL, and AWS pointing at moto's server.
    """
    monkeypatch.setenv("SPATIAFI_AUTH_URL", spatiafi_emulator.url)
    return spatiafi_emulator


def test_token_follows_what_the_rotator_published(
    runner: RecordingRunner, service: EmulatorHandle, secret_name: str
) -> None:
    """
    `token` mints with AWSCURRENT, answers the next call from the cache, and mints with
    the new client on its first call after a rotation published it and revoked the old.
    """
    env = {"SPATIAFI_CREDENTIALS_FROM": f"aws-secretsmanager:{secret_name}"}
    sink = SecretsManagerSink(secret_name)
    first = payload_for(service.create_client(), emulator=service).credentials
    sink.publish(payload_for(first, emulator=service), timeout=30)

    minted = runner.run(["token"], env=env)
    cached = runner.run(["token"], env=env)

    assert minted.exit_code == 0, minted.stderr
    assert cached.stdout == minted.stdout
    assert service.count(TOKEN_ROUTE) == 1

    second = service.create_client()
    sink.publish(payload_for(second, emulator=service, previous=first.client_id), timeout=30)
    assert service.delete_client(first.client_id)

    rotated = runner.run(["token"], env=env)

    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.stdout != minted.stdout
    assert service.count(TOKEN_ROUTE) == 2


def test_the_library_reads_the_same_source(service: EmulatorHandle, secret_name: str) -> None:
    """load_credentials and token_from_source take the source from Settings."""
    client = service.create_client()
    payload = payload_for(client, emulator=service)
    SecretsManagerSink(secret_name).publish(payload, timeout=30)
    settings = Settings.from_env()._replace(credentials_from=f"aws-secretsmanager:{secret_name}")

    assert load_credentials(settings) == payload.credentials
    token, from_cache = token_from_source(settings, min_ttl=60)
    again, again_from_cache = token_from_source(settings, min_ttl=60)

    assert (from_cache, again_from_cache) == (False, True)
    assert again.value == token.value
    assert service.count(TOKEN_ROUTE) == 1


def test_token_says_what_is_wrong_in_one_line(
    runner: RecordingRunner,
    service: EmulatorHandle,
    secret_name: str,
    closed_port_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A missing secret is exit 5, an unreachable AWS exit 4: one line, no traceback."""
    env = {"SPATIAFI_CREDENTIALS_FROM": f"aws-secretsmanager:{secret_name}"}

    missing = runner.run(["token"], env=env)

    assert missing.exit_code == 5
    assert secret_name in missing.stderr

    use_aws(monkeypatch, tmp_path, closed_port_url)
    unreachable = runner.run(["token"], env=env)

    assert unreachable.exit_code == 4
    assert "could not reach AWS Secrets Manager" in unreachable.stderr
    for result in (missing, unreachable):
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    assert service.count(TOKEN_ROUTE) == 0


def test_a_cached_token_costs_one_secret_read(
    runner: RecordingRunner,
    spatiafi_emulator: EmulatorHandle,
    scripted_aws: ScriptedAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each `token` reads the secret once (GetSecretValue), then mints or hits the cache."""
    monkeypatch.setenv("SPATIAFI_AUTH_URL", spatiafi_emulator.url)
    client = payload_for(spatiafi_emulator.create_client(), emulator=spatiafi_emulator)
    stored = {"Name": "spatiafi/prod", "SecretString": json.dumps(client.to_json())}
    scripted_aws.answer((200, stored))
    env = {"SPATIAFI_CREDENTIALS_FROM": "aws-secretsmanager:spatiafi/prod"}

    results = [runner.run(["token"], env=env) for _ in range(3)]

    assert [r.exit_code for r in results] == [0, 0, 0], results[0].stderr
    assert scripted_aws.targets == ["secretsmanager.GetSecretValue"] * 3
    assert spatiafi_emulator.count(TOKEN_ROUTE) == 1
