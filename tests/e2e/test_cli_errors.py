"""
Bad input gets one clear sentence and the documented exit code, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops.cli import cli
from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, record_output
from tests.e2e.conftest import create_credentials


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("args", "env", "code", "fragment"),
    [
        (["--profile", "nope", "token"], {}, 5, "no credentials stored for profile 'nope'"),
        (["token"], {}, 5, "no credentials stored"),
        (["--auth-url", "ftp://x", "token"], {}, 2, "is not an http(s) URL"),
        (["--auth-url", "http://", "token"], {}, 2, "is not an http(s) URL"),
        (["--auth-url", "http://h:99999", "token"], {}, 2, "invalid port"),
        (["token", "--min-ttl", "soon"], {}, 2, "is not a duration"),
        (["--timeout", "-1", "token"], {}, 2, "is not a duration"),
        (["--deadline", "0", "token"], {}, 2, "must be more than 0"),
        (["--deadline", "99999999999", "token"], {}, 2, "longest duration"),
        (["--deadline", "2d", "token"], {}, 2, "at most 1d"),
        (["--timeout", "3000000d", "token"], {}, 2, "longest duration"),
        (["token"], {"SPATIAFI_TIMEOUT": "0"}, 2, "SPATIAFI_TIMEOUT"),
        (["token"], {"SPATIAFI_DEADLINE": "soon"}, 2, "SPATIAFI_DEADLINE"),
        (["token"], {"SPATIAFI_AUTH_URL": "ftp://x"}, 2, "SPATIAFI_AUTH_URL"),
        (["token"], {"SPATIAFI_PROFILE": "../x"}, 2, "SPATIAFI_PROFILE"),
        (["token"], {"SPATIAFI_ALLOW_INSECURE_PERMISSIONS": "maybe"}, 2, "not a boolean"),
        (["credentials", "rotate", "--grace", "3000000d"], {}, 2, "longest duration"),
        (["credentials", "revoke", "not-a-uuid"], {}, 2, "is not a client id"),
        (["--profile", "../etc", "token"], {}, 2, "not a valid profile name"),
        (["credentials", "create"], {"SPATIAFI_PASSWORD": ""}, 2, "empty one"),
        (["credentials", "create"], {"SPATIAFI_USERNAME": ""}, 2, "no username"),
        (
            ["credentials", "create"],
            {"SPATIAFI_PASSWORD": "wrong-password"},
            3,
            "LOGIN_BAD_CREDENTIALS",
        ),
        (["credentials", "create"], {"SPATIAFI_USERNAME": "who@example.com"}, 3, "rejected"),
        (["--log-level", "loud", "token"], {}, 2, "loud"),
        (["token", "--format", "yaml"], {}, 2, "yaml"),
        (["frobnicate"], {}, 2, "No such command"),
        (["--auth-url", "http://u:pw-secret@h", "token"], {}, 2, "must not carry a user name"),
        (["credentials", "revoke", "../auth/jwt/token"], {}, 2, "is not a client id"),
    ],
)
def test_bad_input_exits_with_the_documented_code_and_one_sentence(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    args: list[str],
    env: dict[str, str],
    code: int,
    fragment: str,
) -> None:
    """Each malformed input: its exit code, a message naming the problem, nothing written."""
    before = files_under(clean_environment["config"].parent)
    result = runner.run(args, env=env)
    assert result.exit_code == code, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    after = files_under(clean_environment["config"].parent)
    assert {k: v for k, v in after.items() if not k.endswith(".lock")} == before


def test_a_credential_file_that_is_a_directory(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """exit 5, naming the path."""
    (clean_environment["config"] / "app_credentials.json").mkdir(parents=True)
    result = runner.run(["token"])
    assert result.exit_code == 5
    assert "is a directory" in result.stderr


@pytest.mark.parametrize("content", ["{", '{"client_id": "x"}', "null"])
def test_a_corrupt_credential_file_is_reported_and_kept(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    content: str,
) -> None:
    """exit 5; `credentials create` refuses to overwrite it silently."""
    path = clean_environment["config"] / "app_credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    path.chmod(0o600)
    assert runner.run(["token"]).exit_code == 5
    assert runner.run(["credentials", "create"]).exit_code == 5
    assert path.read_text() == content


def test_an_insecure_credential_file_is_refused_unless_allowed(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A 0644 secret is refused with exit 5; --allow-insecure-permissions mints anyway."""
    create_credentials(runner)
    (clean_environment["config"] / "app_credentials.json").chmod(0o644)
    refused = runner.run(["token"])
    assert refused.exit_code == 5
    assert "chmod 600" in refused.stderr
    allowed = runner.run(["--allow-insecure-permissions", "token"])
    assert allowed.exit_code == 0, allowed.stderr
    assert "insecure_permissions_allowed" in allowed.stderr


def test_an_unreachable_host_exits_4(runner: RecordingRunner, service: EmulatorHandle) -> None:
    """Nothing listens on the port: one sentence, exit 4."""
    create_credentials(runner)
    result = runner.run(["--auth-url", "http://127.0.0.1:9", "--deadline", "1", "token"])
    assert result.exit_code == 4
    assert "could not connect to http://127.0.0.1:9" in result.stderr


def commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    assert isinstance(group, click.Group)
    ctx = click.Context(group)
    found = [prefix]
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            found += commands(sub, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", commands(cli), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(runner: RecordingRunner, path: tuple[str, ...]) -> None:
    """--help works everywhere and exits 0."""
    result = runner.run([*path, "--help"])
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout


def test_root_help_documents_exit_codes_and_version(runner: RecordingRunner) -> None:
    """The exit-code table is in --help; --version prints the version."""
    help_text = runner.run(["--help"]).stdout
    assert "Exit codes:" in help_text
    assert "5  local state problem" in help_text
    assert runner.run(["--version"]).stdout.startswith("spatiafi-ops, version ")


def test_debug_level_shows_a_scrubbed_traceback_for_bugs(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """Only --log-level debug prints tracebacks; errors stay one line otherwise."""
    result = runner.run(["--log-level", "debug", "credentials", "show"])
    assert result.exit_code == 5
    assert "Traceback" not in result.stderr


def test_the_module_entry_point_runs(service: EmulatorHandle, runner: RecordingRunner) -> None:
    """python -m spatiafi_ops is the CLI."""
    created = create_credentials(runner)
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", "credentials", "show"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    record_output(proc.stderr)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["client_id"] == created["client_id"]
