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

from .conftest import POSIX_BASH, ROTATE_ACTION, TOKEN_ACTION
from .harness import Job, assert_hidden, cli_error

pytestmark = POSIX_BASH

GH_TOKEN = "github_pat_11TESTTOKEN0123456789"

# A stand-in for the gh CLI (the real one would reach GitHub): records argv, stdin and
# GH_TOKEN, and exits with $GH_FAIL_STATUS (default 1, "the call failed") when argv
# contains $GH_FAIL_ON.
FAKE_GH = """#!{python}
import json, os, sys
body = sys.stdin.read()
record = {{"argv": sys.argv[1:], "stdin": body, "token": os.environ.get("GH_TOKEN")}}
with open(os.environ["GH_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
fail_on = os.environ.get("GH_FAIL_ON")
if fail_on and fail_on in " ".join(sys.argv[1:]):
    print("HTTP 403: Resource not accessible by personal access token", file=sys.stderr)
    sys.exit(int(os.environ.get("GH_FAIL_STATUS", "1")))
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


def _store_removed(job: Job) -> None:
    assert list((job.runner_temp / "spatiafi-ops").glob("rotate.*")) == []


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_young_credentials_are_kept(
    job: Job, gh: FakeGh, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    Younger than max-age: no client created or revoked, the current credentials come out
    masked (and go to the write-back target, which the throwaway profile never wrote).
    """
    now = _now()
    _masked_job(job, app_credentials)
    extra = {"created-at": now, "write-back": "repository", "github-token": GH_TOKEN}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.success, result.log.text
    assert result.outputs["rotated"] == "false"
    assert result.outputs["action"] == "unchanged"
    assert result.outputs["client-id"] == app_credentials["client_id"]
    assert result.outputs["client-secret"] == app_credentials["client_secret"]
    assert result.outputs["previous-client-id"] == ""
    assert result.outputs["revoked"] == "false"
    assert result.outputs["created-at"] == now
    sink = "github:octo-org/octo-repo?secret=SPATIAFI_APP_CREDENTIALS"
    assert result.outputs["published"] == sink
    (call,) = gh.calls()
    stored = json.loads(call["stdin"])
    assert (stored["client_id"], stored["client_secret"], stored["created_at"]) == (
        app_credentials["client_id"],
        app_credentials["client_secret"],
        now,
    )
    assert _client_ids(spatiafi_emulator) == {app_credentials["client_id"]}
    assert spatiafi_emulator.count("clients") == 0
    assert_hidden(result, app_credentials["client_secret"])
    _store_removed(job)


@pytest.mark.parametrize("target", ["repository", "environment"])
def test_old_credentials_rotate_are_written_back_then_revoked(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    target: str,
) -> None:
    """
    Due: new credentials, masked; the JSON secret written through gh on stdin; the old client
    revoked once it was written.
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
    sink = "github:octo-org/octo-repo"
    if target == "environment":
        where += ["--env", "production"]
        sink += "/environments/production"
    assert result.outputs["published"] == f"{sink}?secret=SPATIAFI_APP_CREDENTIALS"
    (call,) = gh.calls()
    assert call["argv"] == ["secret", "set", "SPATIAFI_APP_CREDENTIALS", *where]
    assert call["token"] == GH_TOKEN
    stored = json.loads(call["stdin"])
    assert (stored["client_id"], stored["client_secret"]) == (new_id, new_secret)
    assert stored["created_at"] == result.outputs["created-at"]
    assert stored["previous_client_id"] == old_id
    assert _client_ids(spatiafi_emulator) == {new_id}
    _store_removed(job)

    # The same job can mint with the new credentials straight away.
    minted = job.run(
        TOKEN_ACTION,
        {"client-id": new_id, "client-secret": new_secret, "auth-url": spatiafi_emulator.url},
    )
    assert minted.success, minted.log.text
    assert_hidden(minted, minted.outputs["access-token"])


@pytest.mark.slow
def test_the_json_secret_feeds_the_next_run(
    job: Job, gh: FakeGh, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    credentials-json: the secret that write-back stored carries created_at, so the next run
    keeps the credentials until max-age; the pair is written too when pair-prefix asks.
    """
    _masked_job(job, app_credentials)
    write_back = {
        "write-back": "repository",
        "github-token": GH_TOKEN,
        "pair-prefix": "SPATIAFI_",
        "secret-name": "ACME_SPATIAFI",
    }
    first = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **write_back))
    assert first.success, first.log.text
    calls = gh.calls()
    assert [call["argv"][2] for call in calls] == [
        "ACME_SPATIAFI",
        "SPATIAFI_CLIENT_ID",
        "SPATIAFI_CLIENT_SECRET",
    ]
    assert [call["stdin"] for call in calls[1:]] == [
        first.outputs["client-id"],
        first.outputs["client-secret"],
    ]
    secret_json = calls[0]["stdin"]
    job.log.add_mask(secret_json)  # a workflow secret from now on
    warned = len(first.warnings)  # the job's log so far: the unknown created-at

    base = {
        "credentials-json": secret_json,
        "username": DEFAULT_EMAIL,
        "password": DEFAULT_PASSWORD,
        "auth-url": spatiafi_emulator.url,
    }
    second = job.run(ROTATE_ACTION, base)
    assert second.success, second.log.text
    assert second.outputs["rotated"] == "false"
    assert second.outputs["client-id"] == first.outputs["client-id"]
    assert second.outputs["client-secret"] == first.outputs["client-secret"]
    assert second.outputs["created-at"] == first.outputs["created-at"]
    assert len(second.warnings) == warned

    third = job.run(ROTATE_ACTION, {**base, "max-age": "0s"})
    assert third.success, third.log.text
    assert third.outputs["rotated"] == "true"
    assert third.outputs["previous-client-id"] == first.outputs["client-id"]
    assert third.outputs["revoked"] == "false"  # revoke-old defaults to false: kept valid
    assert first.outputs["client-id"] in _client_ids(spatiafi_emulator)
    assert_hidden(third, third.outputs["client-secret"])
    _store_removed(job)


def test_publish_sinks_join_write_back_before_the_revocation(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    tmp_path: Path,
) -> None:
    """
    publish: more sinks, one per line; the old client is revoked once every one confirmed.
    """
    target = tmp_path / "vault.json"
    extra = {
        "created-at": "2020-01-01T00:00:00Z",
        "publish": f"command:cat > {target}\n\ngithub:octo-org/consumer\n",
        "revoke-old": "true",
    }
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.success, result.log.text
    assert result.outputs["published"].splitlines() == [
        f"command:cat > {target}",
        "github:octo-org/consumer",
    ]
    published = json.loads(target.read_text(encoding="utf-8"))
    assert published["client_id"] == result.outputs["client-id"]
    assert [call["argv"] for call in gh.calls()] == [
        ["secret", "set", "SPATIAFI_APP_CREDENTIALS", "--repo", "octo-org/consumer"]
    ]
    assert result.outputs["revoked"] == "true"
    assert _client_ids(spatiafi_emulator) == {result.outputs["client-id"]}


@pytest.mark.parametrize(("gh_status", "exit_code"), [(1, 4), (4, 5)])
def test_a_failed_write_back_keeps_the_old_credentials_working(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    gh_status: int,
    exit_code: int,
) -> None:
    """
    gh fails (1: the call failed; 4: authentication): exit 4 or 5, nothing revoked, the
    throwaway profile removed.
    """
    job.env |= {
        "GH_FAIL_ON": "secret set SPATIAFI_APP_CREDENTIALS",
        "GH_FAIL_STATUS": str(gh_status),
    }
    _masked_job(job, app_credentials)
    extra = {"write-back": "repository", "github-token": GH_TOKEN, "revoke-old": "true"}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == exit_code
    assert "SPATIAFI_APP_CREDENTIALS" in cli_error(result)
    assert len(gh.calls()) == 1
    assert result.outputs["revoked"] == "false"
    assert app_credentials["client_id"] in _client_ids(spatiafi_emulator)
    # The client this run made is stored nowhere now: the log names it for a revocation.
    (orphan,) = _client_ids(spatiafi_emulator) - {app_credentials["client_id"]}
    assert orphan in result.log.text
    _store_removed(job)


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
    _store_removed(job)


def test_dry_run_reports_and_changes_nothing(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    dry-run: the plan is the outcome, rotated stays false, the service is not written to.
    """
    extra = {"dry-run": "true", "created-at": "2020-01-01T00:00:00Z"}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.success, result.log.text
    assert result.outputs["rotated"] == "false"
    assert result.outputs["action"] == "planned"
    assert _client_ids(spatiafi_emulator) == {app_credentials["client_id"]}
    assert spatiafi_emulator.count("clients") == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # The sentence is fixed text: nothing of the input reaches a workflow command.
        ({"write-back": "50%0A\n::warning::x"}, "must be none, repository or environment."),
        (
            {
                "write-back": "environment",
                "github-token": GH_TOKEN,
                "environment": "prod\ncommand:touch pwned",
            },
            "cannot hold a line break",
        ),
        ({"credentials-json": "{}"}, "not both"),
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
    Through the runner: exit 2, one error annotation, nothing sent, no profile left.

    Every input check is unit-tested in test_rotate_inputs.py; these show the step's log.
    """
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == 2
    (error,) = result.errors
    assert expected in error.message
    assert result.warnings == []
    assert sum(spatiafi_emulator.counters().values()) == 0
    assert gh.calls() == []
    assert not (job.workspace / "pwned").exists()
    _store_removed(job)


@pytest.mark.parametrize(
    ("extra", "exit_code"),
    [
        ({"created-at": "last tuesday"}, 2),
        ({"max-age": "soon"}, 2),
        ({"write-back": "repository", "github-token": GH_TOKEN, "repository": "no-slash"}, 2),
        ({"client-id": "not-a-uuid"}, 5),
        ({"client-id": "", "client-secret": "", "credentials-json": "not json"}, 5),
        ({"password": ""}, 2),
    ],
    ids=["created-at", "max-age", "repository", "client-id", "credentials-json", "password"],
)
def test_the_cli_refuses_bad_values_before_creating_anything(
    job: Job,
    gh: FakeGh,
    spatiafi_emulator: EmulatorHandle,
    app_credentials: dict[str, str],
    extra: dict[str, str],
    exit_code: int,
) -> None:
    """
    What the CLI checks (times, durations, sinks, credentials, the login) fails with its
    documented exit code and one sentence, before a client is created or anything written.
    """
    extra = {"created-at": "2020-01-01T00:00:00Z", **extra}
    result = job.run(ROTATE_ACTION, _inputs(spatiafi_emulator, app_credentials, **extra))

    assert result.exit_code == exit_code
    assert cli_error(result)
    assert spatiafi_emulator.count("clients") == 0
    assert gh.calls() == []
    _store_removed(job)
