"""
`credentials create` then `token`, end to end against the emulator over real sockets.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, json_lines, record_output, record_secret
from tests.e2e.conftest import create_credentials
from tests.platforms import assert_private

TOKEN = "token"


def stored(config_dir: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((config_dir / "app_credentials.json").read_text())
    return data


def test_create_stores_the_one_time_secret_privately_and_prints_no_secret(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """The result JSON names the client; the secret is only in the 0600 file."""
    result = runner.run(["credentials", "create"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["action"] == "created"
    assert out["profile"] == "default"
    assert out["previous_client_id"] is None
    file = clean_environment["config"] / "app_credentials.json"
    data = stored(clean_environment["config"])
    assert data["client_id"] == out["client_id"]
    assert data["client_secret"] not in result.stdout + result.stderr
    assert_private(file)
    assert [c["client_id"] for c in service.clients()] == [out["client_id"]]


def test_create_refuses_to_overwrite_without_force(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A second create exits 5 and changes nothing; --force replaces and keeps a backup."""
    first = create_credentials(runner)
    refused = runner.run(["credentials", "create"])
    assert refused.exit_code == 5
    assert "already holds credentials" in refused.stderr
    assert stored(clean_environment["config"])["client_id"] == first["client_id"]
    forced = runner.run(["credentials", "create", "--force"])
    assert forced.exit_code == 0, forced.stderr
    out = json.loads(forced.stdout)
    assert out["action"] == "replaced"
    assert out["previous_client_id"] == first["client_id"]
    assert stored(clean_environment["config"])["client_id"] == out["client_id"]
    (backup,) = (clean_environment["config"] / "backups").iterdir()
    assert json.loads(backup.read_text())["client_id"] == first["client_id"]


def test_token_is_minted_once_then_served_from_the_cache(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """The first call makes exactly one token request; the second makes none."""
    create_credentials(runner)
    first = runner.run([TOKEN])
    assert first.exit_code == 0, first.stderr
    assert service.count(TOKEN) == 1
    second = runner.run([TOKEN])
    assert second.exit_code == 0, second.stderr
    assert second.stdout == first.stdout
    assert service.count(TOKEN) == 1
    token = first.stdout.strip()
    assert token.count(".") == 2
    assert first.stdout == token + "\n"
    cache_files = list(clean_environment["cache"].glob("token-*.json"))
    assert len(cache_files) == 1
    assert_private(cache_files[0])
    assert stored(clean_environment["config"])["client_secret"] not in cache_files[0].read_text()


def test_no_cache_always_mints_and_min_ttl_forces_a_fresh_token(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """--no-cache mints every time; a --min-ttl above the cached token's life re-mints."""
    create_credentials(runner)
    cached = runner.run([TOKEN]).stdout
    fresh = runner.run([TOKEN, "--no-cache"])
    assert fresh.exit_code == 0
    assert fresh.stdout != cached
    assert service.count(TOKEN) == 2
    # expires_at = exp - 60, so a 15-minute token has at most 840 s left.
    longer = runner.run([TOKEN, "--min-ttl", "850s"])
    assert longer.exit_code == 0
    assert service.count(TOKEN) == 3
    assert "token_shorter_than_min_ttl" in longer.stderr


def test_an_expired_cached_token_is_not_reused(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A cached token with less than --min-ttl left triggers one new mint."""
    create_credentials(runner)
    runner.run([TOKEN])
    (cache_file,) = clean_environment["cache"].glob("token-*.json")
    data = json.loads(cache_file.read_text())
    data["expires_at"] = time.time() + 30
    cache_file.write_text(json.dumps(data))
    again = runner.run([TOKEN])
    assert again.exit_code == 0
    assert service.count(TOKEN) == 2
    assert json.loads(cache_file.read_text())["expires_at"] > time.time() + 600


def test_a_corrupt_cache_file_is_a_miss_not_an_error(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """The cache is disposable: garbage in it costs one mint, not a failure."""
    create_credentials(runner)
    runner.run([TOKEN])
    (cache_file,) = clean_environment["cache"].glob("token-*.json")
    cache_file.write_text("{garbage")
    again = runner.run([TOKEN])
    assert again.exit_code == 0, again.stderr
    assert service.count(TOKEN) == 2


def test_environment_credentials_take_precedence(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """SPATIAFI_CLIENT_ID/SECRET mint without any stored profile."""
    client = service.create_client()
    record_secret(client.client_secret)
    result = runner.run(
        [TOKEN, "--format", "json"],
        env={
            "SPATIAFI_CLIENT_ID": client.client_id,
            "SPATIAFI_CLIENT_SECRET": client.client_secret,
        },
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert int(body["SPATIAFI_TOKEN_EXPIRES_AT"]) > time.time() + 600
    assert body["SPATIAFI_ACCESS_TOKEN"].count(".") == 2


def test_a_new_secret_never_reuses_a_token_minted_with_the_old_one(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """The cache key includes a fingerprint of the secret."""
    old = service.create_client()
    new = service.create_client()
    record_secret(old.client_secret, new.client_secret)
    env_old = {
        "SPATIAFI_CLIENT_ID": old.client_id,
        "SPATIAFI_CLIENT_SECRET": old.client_secret,
    }
    assert runner.run([TOKEN], env=env_old).exit_code == 0
    wrong = {"SPATIAFI_CLIENT_ID": old.client_id, "SPATIAFI_CLIENT_SECRET": new.client_secret}
    rejected = runner.run([TOKEN], env=wrong)
    assert rejected.exit_code == 3
    assert service.count(TOKEN) == 2


def test_two_processes_minting_at_once_make_one_request(
    service: EmulatorHandle, runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """The per-key lock lets the second process read what the first minted."""
    create_credentials(runner)
    service.set_faults(Fault(route=TOKEN, kind="latency", latency=0.5))
    cmd = [sys.executable, "-m", "spatiafi_ops", TOKEN]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        record_output(err)
        assert proc.returncode == 0, err
        record_secret(out.decode().strip())
    assert outputs[0][0] == outputs[1][0]
    assert service.count(TOKEN) == 1


def test_streams_stdout_is_the_product_and_stderr_json_logs(
    service: EmulatorHandle, runner: RecordingRunner
) -> None:
    """The console script prints only the token on stdout; logs are JSON lines on stderr."""
    create_credentials(runner)
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", "--log-level", "debug", TOKEN, "--no-cache"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    record_secret(token)
    assert proc.stdout == token + "\n"
    events = json_lines(proc.stderr)
    assert events, proc.stderr
    assert all("level" in e and "timestamp" in e for e in events)
    assert token not in proc.stderr


@pytest.mark.parametrize("fmt", ["raw", "json"])
def test_login_prints_a_user_token(
    runner: RecordingRunner, service: EmulatorHandle, fmt: str
) -> None:
    """login: the Basic-auth user token, raw or as the service's JSON."""
    result = runner.run(["login", "--format", fmt])
    assert result.exit_code == 0, result.stderr
    token = json.loads(result.stdout)["access_token"] if fmt == "json" else result.stdout.strip()
    record_secret(token)
    assert token.count(".") == 2
    assert service.count("basic") == 1


def test_login_reads_the_password_from_stdin(
    runner: RecordingRunner, service: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--password-stdin takes the first line of stdin; the env password is not needed."""
    monkeypatch.delenv("SPATIAFI_PASSWORD")
    result = runner.run(["login", "--password-stdin"], input="example_password123\n")
    assert result.exit_code == 0, result.stderr
    record_secret(result.stdout.strip())


def test_show_redacts_the_secret_unless_asked(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """credentials show prints metadata; --show-secret adds the secret."""
    created = create_credentials(runner)
    shown = json.loads(runner.run(["credentials", "show"]).stdout)
    assert shown["client_id"] == created["client_id"]
    assert shown["client_secret"] == "**redacted**"
    secret = stored(clean_environment["config"])["client_secret"]
    revealed = json.loads(runner.run(["credentials", "show", "--show-secret"]).stdout)
    assert revealed["client_secret"] == secret


def test_an_unusable_cache_costs_a_mint_not_the_command(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """A cache dir that cannot be created: the token is minted, printed, and a warning logged."""
    create_credentials(runner)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = runner.run(["--cache-dir", str(blocker / "cache"), TOKEN])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().count(".") == 2
    assert "token_cache_unusable" in result.stderr
    record_secret(result.stdout.strip())


@pytest.mark.posix("group and other mode bits")
def test_a_cache_file_others_could_write_is_not_trusted(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A token file open to group or others is a miss: a new token is minted and stored."""
    create_credentials(runner)
    runner.run([TOKEN])
    (cache_file,) = clean_environment["cache"].glob("token-*.json")
    cache_file.chmod(0o666)
    again = runner.run([TOKEN])
    assert again.exit_code == 0, again.stderr
    assert service.count(TOKEN) == 2
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
