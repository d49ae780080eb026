"""
actions/rotate run step by step as the runner would, against the emulator and a fake gh CLI.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle

from .conftest import ROTATE_ACTION, TOKEN_ACTION
from .harness import ActionResult, Job, assert_hidden, cli_error, error_messages

GH_TOKEN = "github_pat_11TESTTOKEN0123456789"

FAKE_GH = """#!{python}
# A stand-in for the gh CLI: records argv and stdin, fails when argv contains $GH_FAIL_ON.
import json, os, sys
body = sys.stdin.read()
record = {{"argv": sys.argv[1:], "stdin": body, "token": os.environ.get("GH_TOKEN")}}
with open(os.environ["GH_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
fail_on = os.environ.get("GH_FAIL_ON")
if fail_on and fail_on in " ".join(sys.argv[1:]):
    print("HTTP 403: Resource not accessible by personal access token", file=sys.stderr)
    sys.exit(1)
"""


@dataclass
class FakeGh:
    """
    Where the fake gh writes its calls.
    """

    log: Path

    def calls(self) -> list[dict[str, Any]]:
        """
        Return each recorded call: ``{"argv", "stdin", "token"}``.
        """
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text("utf-8").splitlines()]


@pytest.fixture(name="gh")
def _gh(job: Job, tmp_path: Path) -> FakeGh:
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    script = bindir / "gh"
    script.write_text(FAKE_GH.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    job.env["PATH"] = f"{bindir}:{job.env['PATH']}"
    job.env["GH_LOG"] = str(tmp_path / "gh.jsonl")
    return FakeGh(tmp_path / "gh.jsonl")


def _inputs(emulator: EmulatorHandle, credentials: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "client-id": credentials["client_id"],
        "client-secret": credentials["client_secret"],
        "username": DEFAULT_EMAIL,
        "password": DEFAULT_PASSWORD,
        "auth-url": emulator.url,
        **extra,
    }


def _masked_job(job: Job, credentials: dict[str, str]) -> Job:
    # Workflow secrets are masked by the runner from the start of the job.
    for secret in (credentials["client_secret"], DEFAULT_PASSWORD, GH_TOKEN):
        job.log.add_mask(secret)
    return job


def _client_ids(emulator: EmulatorHandle) -> set[str]:
    return {client["client_id"] for client in emulator.clients()}


def _store_removed(job: Job, result: ActionResult) -> None:
    assert result.steps[-1].outcome == "success"
    assert list((job.runner_temp / "spatiafi-ops").glob("rotate.*")) == []


def test_young_credentials_are_kept(
    job: Job, gh: FakeGh, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Younger than max-age: nothing changes remotely, the current credentials come out masked.
    """
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _masked_job(job, app_credentials)
    inputs = _inputs(
        spatiafi_emulator,
        app_credentials,
        **{"created-at": now, "write-back": "repository", "github-token": GH_TOKEN},
    )
    result = job.run(ROTATE_ACTION, inputs)

    assert result.success, result.log.text
    assert result.outputs["rotated"] == "false"
    assert result.outputs["client-id"] == app_credentials["client_id"]
    assert result.outputs["client-secret"] == app_credentials["client_secret"]
    assert result.outputs["previous-client-id"] == ""
    assert result.outputs["revoked"] == "false"
    assert result.outputs["created-at"] == now
    assert result.step("write-back").outcome == "skipped"
    assert gh.calls() == []
    assert _client_ids(spatiafi_emulator) == {app_credentials["client_id"]}
    assert spatiafi_emulator.count("clients") == 0
    assert_hidden(result, app_credentials["client_secret"])
    _store_removed(job, result)


@pytest.mark.parametrize("target", ["repository", "environment"])
def test_old_credentials_rotate_are_written_back_then_revoked(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    target: str,
) -> None:
    """
    Due: new credentials, masked; written back through gh on stdin; old client revoked after.
    """
    old_id = app_credentials["client_id"]
    _masked_job(job, app_credentials)
    extra = {"write-back": target, "github-token": GH_TOKEN, "revoke-old": "true"}
    if target == "environment":
        extra |= {"environment": "production", "created-at": "2020-01-01T00:00:00Z"}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.success, result.log.text
    new_id, new_secret = result.outputs["client-id"], result.outputs["client-secret"]
    assert result.outputs["rotated"] == "true"
    assert new_id != old_id
    assert new_secret != app_credentials["client_secret"]
    assert result.outputs["previous-client-id"] == old_id
    assert result.outputs["revoked"] == "true"
    assert_hidden(result, new_secret)
    if target == "repository":  # created-at was not given: the age is unknown, so rotate
        assert any("'created-at' input is empty" in w.message for w in result.warnings)

    where = ["--repo", "octo-org/octo-repo"]
    if target == "environment":
        where += ["--env", "production"]
    calls = gh.calls()
    assert [call["argv"] for call in calls] == [
        ["secret", "set", "SPATIAFI_CLIENT_SECRET", *where],
        ["secret", "set", "SPATIAFI_CLIENT_ID", *where],
        ["variable", "set", "SPATIAFI_CREDENTIALS_CREATED_AT", *where],
    ]
    assert [call["stdin"] for call in calls] == [new_secret, new_id, result.outputs["created-at"]]
    assert all(call["token"] == GH_TOKEN for call in calls)
    assert _client_ids(spatiafi_emulator) == {new_id}
    _store_removed(job, result)

    # The same job can mint with the new credentials straight away.
    minted = job.run(
        TOKEN_ACTION,
        {"client-id": new_id, "client-secret": new_secret, "auth-url": spatiafi_emulator.url},
    )
    assert minted.success, minted.log.text
    assert_hidden(minted, minted.outputs["access-token"])


def test_a_failed_write_back_keeps_the_old_credentials_working(
    job: Job, gh: FakeGh, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    gh fails on the second secret: the first is restored, nothing is revoked, exit 5.
    """
    job.env["GH_FAIL_ON"] = "secret set SPATIAFI_CLIENT_ID"
    _masked_job(job, app_credentials)
    extra = {"write-back": "repository", "github-token": GH_TOKEN, "revoke-old": "true"}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == 5
    new_id = result.outputs["client-id"]
    (message,) = error_messages(result)
    assert "gh secret set SPATIAFI_CLIENT_ID failed" in message
    assert new_id in message
    assert "were not revoked" in message
    calls = gh.calls()
    assert [call["argv"][2] for call in calls] == [
        "SPATIAFI_CLIENT_SECRET",
        "SPATIAFI_CLIENT_ID",
        "SPATIAFI_CLIENT_SECRET",  # put back, so the stored pair still matches
    ]
    assert calls[2]["stdin"] == app_credentials["client_secret"]
    assert result.step("revoke").outcome == "skipped"
    assert app_credentials["client_id"] in _client_ids(spatiafi_emulator)
    assert_hidden(result, result.outputs["client-secret"])
    _store_removed(job, result)


def test_a_wrong_password_fails_with_exit_3_and_creates_nothing(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The user login is rejected: exit 3, a clear error, no client created, store removed.
    """
    _masked_job(job, app_credentials)
    job.log.add_mask("not-the-password")
    result = job.run(
        ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, password="not-the-password")
    )

    assert result.exit_code == 3
    assert cli_error(result)
    assert _client_ids(spatiafi_emulator) == {app_credentials["client_id"]}
    assert_hidden(result, "not-the-password")
    _store_removed(job, result)


def test_dry_run_reports_and_changes_nothing(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    dry-run: the plan is printed, rotated stays false, the service is not written to.
    """
    extra = {"dry-run": "true", "created-at": "2020-01-01T00:00:00Z"}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.success, result.log.text
    assert result.outputs["rotated"] == "false"
    assert result.step("rotate").outputs["action"] == "planned"
    assert _client_ids(spatiafi_emulator) == {app_credentials["client_id"]}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"revoke-old": "true"}, "revoke-old needs write-back"),
        ({"write-back": "organization"}, "must be none, repository or environment"),
        # Escaped by the package's escaping: the annotation shows exactly what was given.
        ({"write-back": "50%0A\nnext"}, "not '50%0A\\nnext'."),
        ({"write-back": "repository"}, "The 'github-token' input is empty"),
        (
            {"write-back": "environment", "github-token": GH_TOKEN},
            "The 'environment' input is empty",
        ),
        ({"created-at": "last tuesday"}, "The 'created-at' input must be an ISO 8601 time"),
        ({"password": ""}, "The 'password' input is empty"),
    ],
)
def test_bad_inputs_fail_before_any_request(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    extra: dict[str, str],
    expected: str,
) -> None:
    """
    Every input is checked before the first network call, with exit 2 and one clear error.
    """
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == 2
    assert any(expected in message for message in error_messages(result)), result.log.text
    assert sum(spatiafi_emulator.counters().values()) == 0
    assert gh.calls() == []
