"""
How AWS failures reach the caller: by type and error code, exit 4 (try again) or 5 (fix).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from spatiafi_ops._aws import ATTEMPTS, SecretsManagerSink, SecretsManagerSource, version_id
from spatiafi_ops._config import Settings
from spatiafi_ops._errors import SecretStoreRefused, SecretStoreUnavailable
from spatiafi_ops.cli._exit import exit_code_for
from tests.aws.conftest import REGION, ScriptedAws, error, new_client, payload_for, use_aws

NAME = "spatiafi/failures"
TARGET = f"aws-secretsmanager:{NAME}"
SECRET = new_client(1)["client_secret"]
ARN = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{NAME}-AbCdEf"
# What AWS answers a write: the secret's ARN and the version id (ClientRequestToken) sent.
WRITTEN = (200, {"ARN": ARN, "Name": NAME, "VersionId": version_id(payload_for(new_client(1)))})


def publish() -> None:
    SecretsManagerSink(NAME).publish(payload_for(new_client(1)), timeout=30)


def read() -> None:
    SecretsManagerSource(NAME).load(Settings(timeout=5))


CALLS = [pytest.param(publish, id="sink"), pytest.param(read, id="source")]


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (publish, 400, "ThrottlingException"),
        (read, 429, "TooManyRequestsException"),
        (publish, 500, "InternalServiceError"),
        (read, 503, "ServiceUnavailable"),
        (read, 504, "SomethingNew"),  # any 5xx, whatever its code
    ],
)
def test_transient_answers_are_retried_then_exit_4(
    scripted_aws: ScriptedAws, call: Callable[[], None], status: int, code: str
) -> None:
    """Throttling and 5xx are retried (botocore's standard mode), then exit 4."""
    scripted_aws.error(status, code)
    with pytest.raises(SecretStoreUnavailable) as caught:
        call()
    assert caught.value.target == TARGET
    assert exit_code_for(caught.value) == 4
    assert len(scripted_aws.targets) == ATTEMPTS
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("AccessDeniedException", "grant the caller secretsmanager:"),
        ("UnrecognizedClientException", "check the AWS credentials"),
        ("DecryptionFailure", "KMS key"),
        ("ValidationException", "API reference"),
    ],
)
def test_refusals_are_not_retried_and_exit_5(
    scripted_aws: ScriptedAws, call: Callable[[], None], code: str, hint: str
) -> None:
    """A 4xx refusal is asked once, then exit 5 naming the code and what to fix."""
    scripted_aws.error(400, code)
    with pytest.raises(SecretStoreRefused) as caught:
        call()
    assert code in str(caught.value)
    assert hint in str(caught.value)
    assert caught.value.target == TARGET
    assert exit_code_for(caught.value) == 5
    assert len(scripted_aws.targets) == 1
    assert SECRET not in str(caught.value)


def test_the_sink_writes_with_one_call(scripted_aws: ScriptedAws) -> None:
    """An existing secret takes one PutSecretValue; the source one GetSecretValue."""
    scripted_aws.answer(WRITTEN)
    publish()
    assert scripted_aws.targets == ["secretsmanager.PutSecretValue"]

    value = json.dumps(payload_for(new_client(1)).to_json())
    scripted_aws.answer((200, {"Name": NAME, "SecretString": value, "VersionId": "v"}))
    read()
    assert scripted_aws.targets == ["secretsmanager.GetSecretValue"]


@pytest.mark.parametrize(
    "body",
    [
        {},  # botocore's reading of an HTML page, a captive portal's "200 OK"
        {"message": "<html><body>Sign in to the network</body></html>"},
        {"ARN": ARN, "Name": NAME, "VersionId": "another-version"},
        {"ARN": ARN.replace(NAME, "spatiafi/other"), "VersionId": WRITTEN[1]["VersionId"]},
    ],
    ids=["empty", "html", "other-version", "other-secret"],
)
def test_a_200_that_does_not_name_our_version_of_the_secret_is_no_write(
    scripted_aws: ScriptedAws, body: dict[str, str]
) -> None:
    """Issue 17 case 5: only AWS's answer naming the version we sent confirms a write."""
    scripted_aws.answer((200, body))
    with pytest.raises(SecretStoreUnavailable, match="does not confirm") as caught:
        publish()
    assert exit_code_for(caught.value) == 4


def test_the_sink_creates_the_secret_if_absent(scripted_aws: ScriptedAws) -> None:
    """Not found: one CreateSecret, with the same version id as the put."""
    scripted_aws.answer(error(400, "ResourceNotFoundException"), WRITTEN)
    publish()
    assert scripted_aws.targets == [
        "secretsmanager.PutSecretValue",
        "secretsmanager.CreateSecret",
    ]


def test_the_sink_adds_its_version_to_a_secret_created_meanwhile(
    scripted_aws: ScriptedAws,
) -> None:
    """Created by another publisher between our put and create: put again, once."""
    scripted_aws.answer(
        error(400, "ResourceNotFoundException"), error(400, "ResourceExistsException"), WRITTEN
    )
    publish()
    assert scripted_aws.targets == [
        "secretsmanager.PutSecretValue",
        "secretsmanager.CreateSecret",
        "secretsmanager.PutSecretValue",
    ]


@pytest.mark.parametrize("call", CALLS)
def test_an_unreachable_endpoint_is_exit_4(
    call: Callable[[], None], closed_port_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A refused connection (nothing listens) is transient: exit 4."""
    use_aws(monkeypatch, tmp_path, closed_port_url)
    with pytest.raises(SecretStoreUnavailable, match="EndpointConnectionError") as caught:
        call()
    assert exit_code_for(caught.value) == 4


@pytest.mark.parametrize("call", CALLS)
def test_no_credentials_is_exit_5(
    call: Callable[[], None], scripted_aws: ScriptedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AWS credentials anywhere: refused before any request, saying what to configure."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SecretStoreRefused, match="no usable AWS credentials") as caught:
        call()
    assert exit_code_for(caught.value) == 5
    assert scripted_aws.targets == []


@pytest.mark.parametrize("call", CALLS)
def test_half_the_credentials_is_exit_5(
    call: Callable[[], None], scripted_aws: ScriptedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An access key without its secret key is refused the same way."""
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SecretStoreRefused, match="no usable AWS credentials"):
        call()
    assert scripted_aws.targets == []


@pytest.mark.parametrize("call", CALLS)
def test_no_region_is_exit_5(
    call: Callable[[], None], scripted_aws: ScriptedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No region configured and a plain name: refused, naming AWS_DEFAULT_REGION."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SecretStoreRefused, match="AWS_DEFAULT_REGION"):
        call()


@pytest.mark.parametrize("call", CALLS)
def test_an_unknown_aws_profile_is_exit_5(
    call: Callable[[], None], scripted_aws: ScriptedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_PROFILE naming no profile is refused, naming the profile."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(SecretStoreRefused, match="'no-such-profile'"):
        call()


def test_a_profile_from_the_aws_config_is_used(
    scripted_aws: ScriptedAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Region and keys may come from a profile of the AWS config files (AWS_PROFILE)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text(f"[profile ops]\nregion = {REGION}\n")
    (tmp_path / "aws-credentials").write_text(
        "[ops]\naws_access_key_id = AKIATESTINGONLY00001\n"
        "aws_secret_access_key = testing-only-not-a-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "ops")
    scripted_aws.answer(WRITTEN)

    publish()

    assert scripted_aws.targets == ["secretsmanager.PutSecretValue"]
