"""
actions/token run step by step as the runner would, against the emulator.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from spatiafi_ops.cli import cli
from spatiafi_ops.emulator import EmulatorHandle

from .conftest import POSIX_BASH, TOKEN_ACTION
from .harness import Job, assert_hidden, cli_error, error_messages

pytestmark = POSIX_BASH


def _inputs(emulator: EmulatorHandle, credentials: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "client-id": credentials["client_id"],
        "client-secret": credentials["client_secret"],
        "auth-url": emulator.url,
        **extra,
    }


def _job_with_secrets(job: Job, *secrets: str) -> Job:
    # The runner masks every secret a workflow references from the start of the job.
    for secret in secrets:
        job.log.add_mask(secret)
    return job


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_mints_a_masked_token_into_step_outputs(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The token is an output, masked before anything could print it; expiry goes to the summary.
    """
    _job_with_secrets(job, app_credentials["client_secret"])
    result = job.run(TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials))

    assert result.success, result.log.text
    token = result.outputs["access-token"]
    assert token.count(".") == 2  # a JWT
    assert result.outputs["token-type"] == "bearer"
    assert int(result.outputs["expires-at"]) > time.time() + 600
    assert_hidden(result, token)
    assert_hidden(result, app_credentials["client_secret"])
    assert result.exported_env == {}
    assert result.outputs["expires-at"] in result.summary
    assert os.access(result.outputs["cli"], os.X_OK)
    assert spatiafi_emulator.count("token") == 1
    assert error_messages(result) == []


def test_export_env_hands_the_token_to_later_steps(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    export-env: true writes SPATIAFI_ACCESS_TOKEN and its expiry to GITHUB_ENV, masked.
    """
    result = job.run(
        TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials, **{"export-env": "true"})
    )

    assert result.success, result.log.text
    assert result.exported_env["SPATIAFI_ACCESS_TOKEN"] == result.outputs["access-token"]
    assert result.exported_env["SPATIAFI_TOKEN_EXPIRES_AT"] == result.outputs["expires-at"]
    assert_hidden(result, result.outputs["access-token"])


def test_a_second_run_in_the_job_reuses_the_token_until_min_ttl(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The same step twice in one job reuses the cached token; a min-ttl it cannot meet re-mints.
    """
    inputs = _inputs(spatiafi_emulator, app_credentials)
    first = job.run(TOKEN_ACTION, inputs)
    second = job.run(TOKEN_ACTION, inputs)
    assert first.success
    assert second.success
    assert second.outputs["access-token"] == first.outputs["access-token"]
    assert spatiafi_emulator.count("token") == 1

    # A token lives 15 minutes (expires_at = exp - 60 s): 15m can never be left.
    third = job.run(TOKEN_ACTION, {**inputs, "min-ttl": "15m"})
    assert third.success, third.log.text
    assert third.outputs["access-token"] != first.outputs["access-token"]
    assert spatiafi_emulator.count("token") == 2
    assert_hidden(third, third.outputs["access-token"])


@pytest.mark.parametrize("missing", ["client-id", "client-secret"])
def test_an_empty_input_fails_with_a_usage_error(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str], missing: str
) -> None:
    """
    An empty credential (say a secret unavailable to a fork) fails with exit 2, no request.
    """
    result = job.run(TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials, **{missing: ""}))

    assert result.exit_code == 2
    (message,) = error_messages(result)
    assert f"The '{missing}' input is empty" in message
    assert "access-token" not in result.step("mint").outputs
    assert spatiafi_emulator.count("token") == 0


def test_a_wrong_secret_fails_with_exit_3(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Rejected credentials: one ::error:: sentence naming the cause, the CLI's exit code 3.
    """
    wrong = app_credentials["client_secret"][::-1]
    _job_with_secrets(job, wrong)
    result = job.run(
        TOKEN_ACTION, {**_inputs(spatiafi_emulator, app_credentials), "client-secret": wrong}
    )

    assert result.exit_code == 3
    assert "rejected the credentials" in cli_error(result)
    assert result.outputs["access-token"] == ""
    assert_hidden(result, wrong)


def _log_formats() -> list[str]:
    (option,) = [param for param in cli.params if param.name == "log_format"]
    return list(getattr(option.type, "choices", []))


@pytest.mark.skipif("github" not in _log_formats(), reason="the CLI has no --log-format github yet")
def test_the_cli_annotates_its_own_failure(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The action adds no error of its own: in a job the CLI's failure is one ::error:: line.
    """
    wrong = app_credentials["client_secret"][::-1]
    result = job.run(
        TOKEN_ACTION, {**_inputs(spatiafi_emulator, app_credentials), "client-secret": wrong}
    )

    assert result.exit_code == 3
    (annotation,) = result.errors
    assert "rejected the credentials" in annotation.message
    # The runner shows the annotation as an "Error: ..." line: exactly once, nothing else.
    assert len([line for line in result.log.lines if line.startswith("Error: ")]) == 1


def test_an_unreachable_service_fails_with_exit_4(
    job: Job, app_credentials: dict[str, str]
) -> None:
    """
    Nothing listening: retries until the deadline, then exit 4 with a clear error.
    """
    job.env["SPATIAFI_DEADLINE"] = "2"
    inputs = {
        "client-id": app_credentials["client_id"],
        "client-secret": app_credentials["client_secret"],
        "auth-url": f"http://127.0.0.1:{_closed_port()}",
    }
    result = job.run(TOKEN_ACTION, inputs)

    assert result.exit_code == 4
    assert cli_error(result)


def test_a_bad_export_env_fails_with_exit_2(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The one input the action interprets itself is validated before anything runs.
    """
    result = job.run(
        TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials, **{"export-env": "yes"})
    )

    assert result.exit_code == 2
    assert error_messages(result) == ["The 'export-env' input must be true or false."]
    assert spatiafi_emulator.count("token") == 0


def test_the_action_sets_up_its_own_python_without_touching_the_job(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Without SPATIAFI_ACTION_PYTHON, setup-python (pinned) supplies the interpreter, PATH untouched.
    """
    del job.env["SPATIAFI_ACTION_PYTHON"]
    result = job.run(TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials))

    assert result.success, result.log.text
    assert job.stand_in_calls == [
        ("actions/setup-python", {"python-version": "3.13", "update-environment": "false"})
    ]
    assert result.exported_env == {}
    assert result.path_entries == []
    assert_hidden(result, result.outputs["access-token"])


def test_hostile_input_values_stay_data(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Shell syntax in an input reaches the CLI as a plain value through env: nothing runs.
    """
    canary = job.workspace / "pwned"
    hostile = f'$(touch {canary})"; touch {canary}; echo "`touch {canary}`'
    result = job.run(
        TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials, **{"client-id": hostile})
    )

    assert result.exit_code == 2  # not a client id: refused where it enters, as a value
    assert not canary.exists()
    assert not Path(str(canary)).exists()


def test_credentials_from_reads_the_json_secret_in_the_steps_env(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    credentials-from env:NAME: the JSON secret the github: sink publishes, set in the env of
    the step that uses the action, mints the token; the output stays masked.
    """
    secret_json = json.dumps({**app_credentials, "created_at": "2026-01-01T00:00:00Z"})
    _job_with_secrets(job, secret_json)
    inputs = {"credentials-from": "env:SPATIAFI_APP_CREDENTIALS", "auth-url": spatiafi_emulator.url}
    result = job.run(TOKEN_ACTION, inputs, env={"SPATIAFI_APP_CREDENTIALS": secret_json})

    assert result.success, result.log.text
    assert result.outputs["access-token"].count(".") == 2
    assert_hidden(result, result.outputs["access-token"])
    assert spatiafi_emulator.count("token") == 1

    # The step's env is the step's own: a later use without it has no JSON to read, and
    # that is the CLI's error, with its exit code.
    missing = job.run(TOKEN_ACTION, inputs)
    assert missing.exit_code == 5
    assert "SPATIAFI_APP_CREDENTIALS is not set" in cli_error(missing)


def test_credentials_from_and_the_pair_are_one_or_the_other(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Both given: the action cannot tell which was meant, so it refuses before any request.
    """
    extra = {"credentials-from": "env:SPATIAFI_APP_CREDENTIALS"}
    result = job.run(TOKEN_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == 2
    (message,) = error_messages(result)
    assert "not both" in message
    assert spatiafi_emulator.count("token") == 0
