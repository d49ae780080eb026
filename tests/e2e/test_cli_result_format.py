"""
`--format github` on the verbs that print a result: step outputs a runner reads back.

Every file is read with the runner-faithful readers of tests/unit/ci_readers.py: the
GITHUB_OUTPUT parser (heredocs) and the mask registration of ``::add-mask::`` on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner
from tests.e2e.conftest import create_credentials
from tests.unit.ci_readers import parse_github_file, registered_masks

RESULT_OUTPUTS = {
    "action",
    "rotated",
    "client-id",
    "previous-client-id",
    "created-at",
    "revoked-client-ids",
    "manual-revoke-client-ids",
    "published",
}


class Runner:
    """
    A step's runner files around CLI runs: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
    """

    def __init__(self, root: Path) -> None:
        self.output = root / "github_output"
        self.summary = root / "step_summary"

    def env(self) -> dict[str, str | None]:
        for path in (self.output, self.summary):
            path.write_bytes(b"")  # the runner gives each step fresh files
        return {"GITHUB_OUTPUT": str(self.output), "GITHUB_STEP_SUMMARY": str(self.summary)}

    def outputs(self) -> dict[str, str]:
        pairs = parse_github_file(self.output.read_bytes())
        assert len(pairs) == len(dict(pairs)), "an output was written twice"
        return dict(pairs)


@pytest.fixture(name="github")
def _github(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


def stored(config: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((config / "app_credentials.json").read_text())
    return data


def run_github(runner: RecordingRunner, github: Runner, *args: str, **kw: Any) -> dict[str, str]:
    """
    Run ``credentials ARGS --format github``; check stdout held only the secret's mask.
    """
    done = runner.run(["credentials", *args, "--format", "github"], env=github.env(), **kw)
    assert done.exit_code == 0, done.stderr
    outputs = github.outputs()
    secret = outputs.get("client-secret")
    # Nothing but the mask on stdout, registered before any file held the secret.
    assert registered_masks(done.stdout) == ([secret] if secret else [])
    assert all(line.startswith("::add-mask::") for line in done.stdout.splitlines())
    if secret:
        assert secret not in done.stderr
        assert secret not in github.summary.read_text(encoding="utf-8")
    return outputs


def test_create_hands_the_new_credentials_to_later_steps(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    github: Runner,
) -> None:
    """
    create: every result output in kebab-case, and the stored secret, masked.
    """
    outputs = run_github(runner, github, "create")

    creds = stored(clean_environment["config"])
    assert set(outputs) == RESULT_OUTPUTS | {"client-secret"}
    assert outputs["action"] == "created"
    assert outputs["rotated"] == "true"
    assert outputs["client-id"] == creds["client_id"]
    assert outputs["client-secret"] == creds["client_secret"]
    assert outputs["created-at"] == creds["created_at"]
    assert outputs["previous-client-id"] == ""
    assert outputs["published"] == ""
    # The non-secret outputs make the step summary.
    assert creds["client_id"] in github.summary.read_text(encoding="utf-8")


def test_rotate_with_a_sink_lists_what_it_revoked_and_published(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    github: Runner,
    tmp_path: Path,
) -> None:
    """
    A due rotation with grace 0: the new client and secret, the old one revoked after the
    sink confirmed, the sink listed.
    """
    old = create_credentials(runner)
    sink = f"command:cat > {tmp_path / 'published.json'}"
    outputs = run_github(
        runner, github, "rotate", "--max-age", "0s", "--grace", "0", "--publish", sink
    )

    creds = stored(clean_environment["config"])
    assert outputs["action"] == "rotated"
    assert outputs["rotated"] == "true"
    assert outputs["client-id"] == creds["client_id"] != old["client_id"]
    assert outputs["client-secret"] == creds["client_secret"]
    assert outputs["previous-client-id"] == old["client_id"]
    assert outputs["revoked-client-ids"] == old["client_id"]
    assert outputs["manual-revoke-client-ids"] == ""
    assert outputs["published"] == sink
    assert {c["client_id"] for c in service.clients()} == {creds["client_id"]}
    assert json.loads((tmp_path / "published.json").read_text())["client_id"] == creds["client_id"]


def test_keep_old_lists_ids_comma_joined(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    github: Runner,
) -> None:
    """
    Two rotations with --keep-old: the second sets the first's previous client aside for
    a hand revocation, and the list outputs join several ids with commas.
    """
    first = create_credentials(runner)
    rotate = ["rotate", "--max-age", "0s", "--keep-old"]
    second = run_github(runner, github, *rotate)["client-id"]
    outputs = run_github(runner, github, *rotate)

    assert outputs["previous-client-id"] == second
    assert outputs["manual-revoke-client-ids"].split(",") == [first["client_id"]]
    assert outputs["revoked-client-ids"] == ""
    revoked = run_github(runner, github, "revoke", first["client_id"])
    assert revoked["revoked-client-ids"] == first["client_id"]


def test_nothing_due_keeps_the_current_credentials(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    github: Runner,
) -> None:
    """
    rotate before max-age: rotated false, the current client and secret handed on.
    """
    create_credentials(runner)
    outputs = run_github(runner, github, "rotate", "--max-age", "30d")

    creds = stored(clean_environment["config"])
    assert (outputs["action"], outputs["rotated"]) == ("unchanged", "false")
    assert outputs["client-id"] == creds["client_id"]
    assert outputs["client-secret"] == creds["client_secret"]
    assert service.count("clients") == 1


def test_revoke_hands_on_no_secret(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    github: Runner,
) -> None:
    """
    revoke changes no stored credentials: its outputs hold no secret and mask nothing.
    """
    create_credentials(runner)
    other = service.create_client()  # not this profile's: revoking it takes --force
    outputs = run_github(runner, github, "revoke", "--force", other.client_id)

    assert set(outputs) == RESULT_OUTPUTS
    assert outputs["action"] == "revoked"
    assert outputs["revoked-client-ids"] == other.client_id
    assert outputs["client-id"] == stored(clean_environment["config"])["client_id"]


def test_import_from_stdin_hands_on_the_imported_credentials(
    runner: RecordingRunner, service: EmulatorHandle, github: Runner
) -> None:
    """
    import - --format github: the credentials piped in come out as outputs, masked.
    """
    other = service.create_client()
    data = {"client_id": other.client_id, "client_secret": other.client_secret}
    outputs = run_github(
        runner, github, "import", "-", "--created-at", "2024-05-01", input=json.dumps(data)
    )

    assert outputs["action"] == "imported"
    assert outputs["rotated"] == "false"
    assert outputs["client-id"] == other.client_id
    assert outputs["client-secret"] == other.client_secret
    assert outputs["created-at"] == "2024-05-01T00:00:00Z"


def test_ensure_dry_run_without_credentials_has_no_secret(
    runner: RecordingRunner, service: EmulatorHandle, github: Runner
) -> None:
    """
    A plan for an empty profile: no client, no secret output, nothing created.
    """
    outputs = run_github(runner, github, "ensure", "--dry-run")

    assert outputs["action"] == "planned"
    assert outputs["client-id"] == ""
    assert "client-secret" not in outputs
    assert service.count("clients") == 0


@pytest.mark.parametrize(
    "args",
    [["create"], ["ensure"], ["rotate", "--max-age", "0s"], ["import", "-"]],
    ids=lambda args: args[0],
)
def test_without_github_output_exits_5_before_changing_anything(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    args: list[str],
) -> None:
    """
    Outside a runner: exit 5 naming GITHUB_OUTPUT, nothing on stdout, no client made.
    """
    if args[0] == "rotate":
        create_credentials(runner)
    before = {c["client_id"] for c in service.clients()}
    snapshot = sorted(clean_environment["config"].rglob("*"))
    done = runner.run(["credentials", *args, "--format", "github"], input="{}")

    assert done.exit_code == 5
    assert "GITHUB_OUTPUT" in done.stderr
    assert done.stdout == ""
    assert {c["client_id"] for c in service.clients()} == before
    assert sorted(clean_environment["config"].rglob("*")) == snapshot


def test_all_profiles_takes_only_json(runner: RecordingRunner, github: Runner) -> None:
    """
    The fleet prints one summary of many profiles: --format github is a usage error.
    """
    done = runner.run(
        ["credentials", "rotate", "--all-profiles", "--format", "github"], env=github.env()
    )

    assert done.exit_code == 2
    assert "--format json" in done.stderr
    assert github.output.read_bytes() == b""


def test_json_stays_the_default(runner: RecordingRunner, service: EmulatorHandle) -> None:
    """
    Without --format: the result JSON on stdout, as before.
    """
    created = create_credentials(runner)
    done = runner.run(["credentials", "rotate", "--max-age", "30d"])

    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["client_id"] == created["client_id"]
