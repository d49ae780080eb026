"""
The aws-secretsmanager sink and source against moto's server, read back with boto3.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from spatiafi_ops._aws import SecretsManagerSink, SecretsManagerSource, version_id
from spatiafi_ops._config import Settings
from spatiafi_ops._errors import CredentialFileError, SecretStoreRefused
from spatiafi_ops.cli._exit import exit_code_for
from spatiafi_ops.credentials._sources import parse_source
from spatiafi_ops.sinks._publish import parse_sink
from tests.aws.conftest import new_client, payload_for


def stages(reader: Any, name: str) -> dict[str, list[str]]:
    """
    Return the secret's version ids and their labels, as Secrets Manager lists them.
    """
    versions = reader.list_secret_version_ids(SecretId=name)["Versions"]
    return {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in versions}


def value_at(reader: Any, name: str, stage: str) -> dict[str, Any]:
    answer = reader.get_secret_value(SecretId=name, VersionStage=stage)
    value: dict[str, Any] = json.loads(answer["SecretString"])
    return value


def test_publish_creates_the_secret(reader: Any, secret_name: str) -> None:
    """A first publish creates the secret; its AWSCURRENT holds the payload's JSON."""
    payload = payload_for(new_client(1))
    sink = parse_sink(f"aws-secretsmanager:{secret_name}")
    assert isinstance(sink, SecretsManagerSink)

    sink.publish(payload, timeout=30)

    assert value_at(reader, secret_name, "AWSCURRENT") == payload.to_json()
    assert stages(reader, secret_name) == {version_id(payload): ["AWSCURRENT"]}


def test_a_new_publish_becomes_current_the_old_previous(reader: Any, secret_name: str) -> None:
    """A second publish is AWSCURRENT and the one it replaces AWSPREVIOUS."""
    first, second = payload_for(new_client(1)), payload_for(new_client(2), previous="x")
    sink = SecretsManagerSink(secret_name)

    sink.publish(first, timeout=30)
    sink.publish(second, timeout=30)

    assert value_at(reader, secret_name, "AWSCURRENT") == second.to_json()
    assert value_at(reader, secret_name, "AWSPREVIOUS") == first.to_json()
    assert stages(reader, secret_name) == {
        version_id(first): ["AWSPREVIOUS"],
        version_id(second): ["AWSCURRENT"],
    }


def test_a_rerun_adds_no_version(reader: Any, secret_name: str) -> None:
    """
    Publishing the same payload again reuses its version id: no version is added.

    (moto overwrites a version whose token is reused; AWS ignores a same-value repeat.
    What is ours to prove is that a rerun sends the same token.)
    """
    first, second = payload_for(new_client(1)), payload_for(new_client(2))
    sink = SecretsManagerSink(secret_name)

    for payload in (first, first, second, second):
        sink.publish(payload, timeout=30)

    assert stages(reader, secret_name) == {
        version_id(first): ["AWSPREVIOUS"],
        version_id(second): ["AWSCURRENT"],
    }


def test_version_id_follows_the_public_fields_only() -> None:
    """The version id is a UUID set by the public fields; the secret is not in it."""
    payload = payload_for(new_client(1))
    same_client_other_secret = payload._replace(
        credentials=payload.credentials._replace(client_secret="another-secret" + "y" * 30)
    )
    assert version_id(payload) == version_id(payload_for(new_client(1)))
    assert version_id(payload) == version_id(same_client_other_secret)
    assert version_id(payload) != version_id(payload_for(new_client(2)))
    assert version_id(payload) != version_id(payload._replace(previous_client_id="x"))
    assert len(version_id(payload)) == 36  # ClientRequestToken takes 32 to 64 characters


def test_the_source_reads_awscurrent(reader: Any, secret_name: str) -> None:
    """The source returns the credentials of the AWSCURRENT version."""
    sink = SecretsManagerSink(secret_name)
    sink.publish(payload_for(new_client(1)), timeout=30)
    latest = payload_for(new_client(2))
    sink.publish(latest, timeout=30)

    source = parse_source(f"aws-secretsmanager:{secret_name}")
    assert isinstance(source, SecretsManagerSource)

    assert source.load(Settings()) == latest.credentials


def test_an_arn_names_the_secret_and_its_region(
    reader: Any, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full ARN (colons and all) reads and publishes, in the ARN's region with none set."""
    first, second = payload_for(new_client(1)), payload_for(new_client(2))
    SecretsManagerSink(secret_name).publish(first, timeout=30)
    arn = reader.describe_secret(SecretId=secret_name)["ARN"]
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    SecretsManagerSink(arn).publish(second, timeout=30)

    assert parse_source(f"aws-secretsmanager:{arn}").load(Settings()) == second.credentials


def test_an_arn_of_no_secret_is_refused(aws: str) -> None:
    """An ARN cannot create a secret: the sink says so rather than guess a name."""
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(SecretStoreRefused, match="create it first") as caught:
        SecretsManagerSink(arn).publish(payload_for(new_client(1)), timeout=30)
    assert caught.value.target == f"aws-secretsmanager:{arn}"


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({"SecretString": "not json {"}, id="not-json"),
        pytest.param({"SecretString": "[1, 2]"}, id="not-an-object"),
        pytest.param({"SecretString": '{"client_id": "x"}'}, id="incomplete"),
        pytest.param({"SecretBinary": b"\x00\x01binary"}, id="binary"),
    ],
)
def test_a_secret_that_is_not_credentials_is_exit_5(
    reader: Any, secret_name: str, stored: dict[str, Any]
) -> None:
    """What is not the credentials JSON is a corrupt credential (exit 5), secret named."""
    reader.create_secret(Name=secret_name, **stored)
    with pytest.raises(CredentialFileError) as caught:
        SecretsManagerSource(secret_name).load(Settings())
    assert secret_name in str(caught.value)
    assert exit_code_for(caught.value) == 5


def test_a_missing_secret_is_refused(aws: str, secret_name: str) -> None:
    """Reading a secret that does not exist is refused (exit 5), naming it."""
    with pytest.raises(SecretStoreRefused) as caught:
        SecretsManagerSource(secret_name).load(Settings())
    assert secret_name in str(caught.value)
    assert caught.value.target == f"aws-secretsmanager:{secret_name}"
    assert exit_code_for(caught.value) == 5


def test_a_secret_scheduled_for_deletion_is_refused(reader: Any, secret_name: str) -> None:
    """An AWS refusal other than not-found is refused with its code and a hint."""
    SecretsManagerSink(secret_name).publish(payload_for(new_client(1)), timeout=30)
    reader.delete_secret(SecretId=secret_name)
    with pytest.raises(SecretStoreRefused, match="InvalidRequestException") as caught:
        SecretsManagerSource(secret_name).load(Settings())
    assert "restore it" in str(caught.value)
