"""
`emit` and `token --format`: what each consumer reads back, end to end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner
from tests.e2e.conftest import create_credentials
from tests.platforms import assert_private
from tests.unit.ci_readers import parse_github_file, parse_gitlab_dotenv, registered_masks

# The shell format is for POSIX shells; Windows' bash, if any, is a port or WSL's launcher.
POSIX_SHELL = pytest.mark.posix("evaluates the shell format in bash")
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def stored(config: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((config / "app_credentials.json").read_text())
    return data


@POSIX_SHELL
@needs_bash
def test_shell_output_evaluates_to_the_stored_credentials(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """eval "$(spatiafi-ops emit --format shell)" sets exactly the stored values in bash."""
    create_credentials(runner)
    result = runner.run(["emit", "--format", "shell"])
    assert result.exit_code == 0, result.stderr
    script = result.stdout + 'printf %s "$SPATIAFI_CLIENT_ID:$SPATIAFI_CLIENT_SECRET"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    creds = stored(clean_environment["config"])
    assert proc.stdout == f"{creds['client_id']}:{creds['client_secret']}"


def test_dotenv_output_file_is_private_and_read_back_by_python_dotenv(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    tmp_path: Path,
) -> None:
    """--output writes a 0600 file; with --with-token it carries the token and its expiry."""
    create_credentials(runner)
    target = tmp_path / "out" / "spatiafi.env"
    target.parent.mkdir()
    result = runner.run(["emit", "--format", "dotenv", "--with-token", "--output", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert_private(target)
    values = dotenv_values(target)
    assert values["SPATIAFI_CLIENT_ID"] == stored(clean_environment["config"])["client_id"]
    assert str(values["SPATIAFI_ACCESS_TOKEN"]).count(".") == 2
    assert int(values["SPATIAFI_TOKEN_EXPIRES_AT"] or 0) > 0
    assert service.count("token") == 1


def test_github_format_masks_first_then_writes_the_runner_files(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """token --format github --github-env: masks on stdout, outputs and env in the files."""
    create_credentials(runner)
    files = {name: tmp_path / name for name in ("output", "env", "summary")}
    for path in files.values():
        path.touch()
    env = {
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_ENV": str(files["env"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
    }
    result = runner.run(["token", "--format", "github", "--github-env"], env=env)
    assert result.exit_code == 0, result.stderr
    outputs = dict(parse_github_file(files["output"].read_bytes()))
    assert set(outputs) == {"access-token", "expires-at", "token-type"}
    token = outputs["access-token"]
    assert registered_masks(result.stdout) == [token]
    assert dict(parse_github_file(files["env"].read_bytes()))["SPATIAFI_ACCESS_TOKEN"] == token
    summary = files["summary"].read_text()
    assert token not in summary
    assert summary


def test_github_format_without_github_output_exits_5(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """Outside a runner, the github format says what is missing and prints nothing."""
    create_credentials(runner)
    result = runner.run(["emit", "--format", "github"])
    assert result.exit_code == 5
    assert "GITHUB_OUTPUT" in result.stderr
    assert result.stdout == ""


def test_gitlab_format_warns_that_gitlab_cannot_mask(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """The dotenv report parses with GitLab's rules; the warning goes to stderr."""
    create_credentials(runner)
    result = runner.run(["emit", "--format", "gitlab"])
    assert result.exit_code == 0, result.stderr
    values = parse_gitlab_dotenv(result.stdout.encode())
    assert values["SPATIAFI_CLIENT_ID"] == stored(clean_environment["config"])["client_id"]
    assert "mask" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["emit", "--format", "shell", "--github-env"], 2, "--github-env only goes with"),
        (["emit", "--format", "toml"], 2, "is not one of"),
        (["emit", "--format", "shell", "--prefix", "1BAD-"], 2, "--prefix"),
        (["emit"], 2, "Missing option '--format'"),
        (["emit", "--format", "github", "--output", "x"], 2, "--output does not go with"),
        (["emit", "--format", "dotenv", "--output", "/proc/nope/x.env"], 5, "cannot"),
    ],
)
def test_emit_usage_errors(
    runner: RecordingRunner, service: EmulatorHandle, args: list[str], code: int, fragment: str
) -> None:
    """Misused options: exit 2 with the reason; unwritable paths: exit 5."""
    create_credentials(runner)
    result = runner.run(args)
    assert result.exit_code == code, result.stderr
    assert fragment in result.stderr


@POSIX_SHELL
@needs_bash
def test_token_formats_share_the_emitters(runner: RecordingRunner, service: EmulatorHandle) -> None:
    """token --format shell and json carry the same token as raw, from the cache."""
    create_credentials(runner)
    raw = runner.run(["token"]).stdout.strip()
    as_json = json.loads(runner.run(["token", "--format", "json"]).stdout)
    assert as_json["SPATIAFI_ACCESS_TOKEN"] == raw
    shell = runner.run(["token", "--format", "shell", "--prefix", "APP_"]).stdout
    proc = subprocess.run(
        ["bash", "-c", shell + 'printf %s "$APP_ACCESS_TOKEN"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == raw
    assert service.count("token") == 1


def test_raw_token_to_a_file(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """token --output PATH writes the raw token to a 0600 file and nothing to stdout."""
    create_credentials(runner)
    target = tmp_path / "token"
    result = runner.run(["token", "--output", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text().strip().count(".") == 2
    assert_private(target)


def test_an_output_inside_a_git_work_tree_is_warned_about(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """Secrets written into a repository checkout get a warning naming the risk."""
    create_credentials(runner)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    result = runner.run(["emit", "--format", "dotenv", "--output", str(tmp_path / "repo" / ".env")])
    assert result.exit_code == 0, result.stderr
    assert "output_in_git_work_tree" in result.stderr
