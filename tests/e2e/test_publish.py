"""
One rotator, many consumers: --publish sinks as a journaled step of every change, the old
client revoked only once every sink has the new one, and consumers that read the shared
store at run time (--credentials-from). Real processes and the emulator throughout; the
only stand-in is a `gh` on PATH, since the real one would reach GitHub.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, record_output, record_secret
from tests.e2e.rotation_support import (
    CREATE_ROUTE,
    DAY,
    ENSURE,
    ROTATE,
    TOKEN_ROUTE,
    age_credentials,
    crash,
    live_ids,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)

pytestmark = pytest.mark.posix("the sinks here are /bin/sh commands")


def file_sink(path: Path) -> str:
    """A command sink that stores what it is given, privately, as a consumer's shared file."""
    return f"command:umask 077 && cat > '{path}.tmp' && mv '{path}.tmp' '{path}'"


def test_a_rotation_publishes_then_revokes(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The sink gets the new credentials as one JSON object on stdin, the journal records
    it, and only then is the old client revoked."""
    shared = tmp_path / "shared.json"
    out = run_json(runner, [*ROTATE, "--grace", "0", "--publish", file_sink(shared)])
    config = clean_environment["config"]
    record_stored_secrets(config)
    new = stored(config)
    published = json.loads(shared.read_text())
    assert published["client_id"] == new["client_id"] == out["client_id"]
    assert published["client_secret"] == new["client_secret"]
    assert published["previous_client_id"] == aged["client_id"]
    assert published["profile"] == "default"
    assert out["published"] == [file_sink(shared)]
    assert out["revoked_client_ids"] == [aged["client_id"]]
    assert rotation_state(config)["published"]["client_id"] == new["client_id"]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ("exit 1", 5),  # refused
        ("exit 75", 4),  # EX_TEMPFAIL: try again later
        ("kill -9 $$", 4),  # killed
        ("sleep 30", 4),  # hangs: stopped at the deadline
    ],
)
def test_a_failing_sink_keeps_the_old_client_and_the_next_run_resumes(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    tmp_path: Path,
    script: str,
    code: int,
) -> None:
    """Whatever --grace says, the old client stays valid while a sink lacks the new one;
    the exit code says transient (4) or refused (5); the next run publishes what is missing
    and then revokes, without another client."""
    config = clean_environment["config"]
    good = tmp_path / "good.json"
    started = time.monotonic()
    result = runner.run(
        [
            "--deadline",
            "3",
            *ROTATE,
            "--grace",
            "0",
            "--publish",
            file_sink(good),
            "--publish",
            f"command:cat > /dev/null; {script}",
        ]
    )
    assert time.monotonic() - started < 15
    assert result.exit_code == code, result.stderr
    record_stored_secrets(config)
    new = stored(config)
    assert new["client_id"] != aged["client_id"]
    assert json.loads(good.read_text())["client_id"] == new["client_id"]
    assert live_ids(service) == {aged["client_id"], new["client_id"]}
    assert list(rotation_state(config)["published"]["sinks"]) == [file_sink(good)]
    service.reset()
    resumed = run_json(
        runner,
        [
            *ROTATE,
            "--grace",
            "0",
            "--publish",
            file_sink(good),
            "--publish",
            "command:cat >/dev/null",
            "--forget-sink",
            f"command:cat > /dev/null; {script}",
        ],
    )
    assert resumed["published"] == ["command:cat >/dev/null"]
    assert resumed["revoked_client_ids"] == [aged["client_id"]]
    assert live_ids(service) == {new["client_id"]}
    assert service.count(CREATE_ROUTE) == 0


def test_sinks_never_get_a_secret_in_argv_or_environment(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command's argv and environment hold neither the new secret nor the password."""
    monkeypatch.setenv("SPATIAFI_CLIENT_SECRET", "a-consumer-secret-123")
    monkeypatch.setenv("SPATIAFI_CLIENT_ID", "00000000-0000-4000-8000-0000000000aa")
    record_secret("a-consumer-secret-123")
    probe = tmp_path / "probe"
    sink = (
        f"command:cat > /dev/null; env > '{probe}.env'; "
        f"tr '\\0' ' ' < /proc/$$/cmdline > '{probe}.argv'"
    )
    run_json(runner, ["credentials", "create", "--publish", sink])
    record_stored_secrets(clean_environment["config"])
    secret = stored(clean_environment["config"])["client_secret"]
    seen = (Path(f"{probe}.env").read_text(), Path(f"{probe}.argv").read_text())
    for text in seen:
        assert secret not in text
        assert os.environ["SPATIAFI_PASSWORD"] not in text
        assert "a-consumer-secret-123" not in text
    assert "SPATIAFI_PASSWORD" not in seen[0]


@pytest.mark.parametrize("step", ["publishing", "published"])
def test_a_kill_while_publishing_converges_without_another_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    tmp_path: Path,
    step: str,
) -> None:
    """SIGKILL before a sink is written, or after it is written but before it is recorded:
    the rerun publishes (again, idempotently) and revokes; one new client in all."""
    config = clean_environment["config"]
    shared = tmp_path / "shared.json"
    crash(*ROTATE, "--grace", "0", "--publish", file_sink(shared), step=step)
    record_stored_secrets(config)
    new = stored(config)
    assert live_ids(service) == {aged["client_id"], new["client_id"]}
    out = run_json(runner, [*ROTATE, "--grace", "0", "--publish", file_sink(shared)])
    assert out["published"] == [file_sink(shared)]
    assert out["revoked_client_ids"] == [aged["client_id"]]
    assert json.loads(shared.read_text())["client_id"] == new["client_id"]
    assert live_ids(service) == {new["client_id"]}
    assert service.count(CREATE_ROUTE) == 1


def test_a_consumer_follows_the_shared_store_on_its_next_call(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    tmp_path: Path,
) -> None:
    """A consumer reading `file:` mints with the new client on its first call after the
    rotation: the cache is keyed by the secret, so no stale token is served."""
    shared = tmp_path / "shared.json"
    run_json(runner, [*ROTATE, "--max-age", "0", "--grace", "0", "--publish", file_sink(shared)])
    record_stored_secrets(clean_environment["config"])
    source = ["token", "--credentials-from", f"file:{shared}"]
    before = runner.run(source)
    assert before.exit_code == 0, before.stderr
    rotated = run_json(
        runner, [*ROTATE, "--max-age", "0", "--grace", "0", "--publish", file_sink(shared)]
    )
    record_stored_secrets(clean_environment["config"])
    service.reset()
    after = runner.run(source)
    assert after.exit_code == 0, after.stderr
    assert after.stdout != before.stdout
    # At most one mint: here the rotation's own verification cached a token for the new
    # client; a consumer on another machine mints once.
    assert service.count(TOKEN_ROUTE) <= 1
    assert json.loads(shared.read_text())["client_id"] == rotated["client_id"]


def test_a_token_read_just_before_a_rotation_retries_with_the_new_credentials(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """token --no-cache racing rotate --grace 0: the old client is revoked while its token
    request waits; the rejection is checked against the store, which has new credentials."""
    run_json(runner, ENSURE)
    age_credentials(clean_environment["config"], 40 * DAY)
    service.reset()
    service.set_faults(Fault(route=TOKEN_ROUTE, kind="latency", latency=2.0, times=1))
    consumer = subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", "token", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    give_up = time.monotonic() + 20
    while service.count(TOKEN_ROUTE) == 0 and time.monotonic() < give_up:
        time.sleep(0.05)
    rotated = run_json(runner, [*ROTATE, "--grace", "0"])
    record_stored_secrets(clean_environment["config"])
    stdout, stderr = consumer.communicate(timeout=30)
    record_output(stderr)
    record_secret(stdout.strip())
    assert rotated["action"] == "rotated"
    assert consumer.returncode == 0, stderr


def test_the_github_sink_writes_one_json_secret_through_gh_on_stdin(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gh secret set NAME --repo OWNER/REPO --env ENV, the value on stdin, never in argv;
    with pair=, py-spatiafi's two secrets too. (A stand-in gh: the real one reaches GitHub.)"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "gh.log"
    gh = bin_dir / "gh"
    gh.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\ncat >> "{log}.stdin"; echo >> "{log}.stdin"\n'
    )
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sink = "github:acme/deploy/environments/prod?pair=SPATIAFI_"
    out = run_json(runner, ["credentials", "create", "--publish", sink])
    record_stored_secrets(clean_environment["config"])
    secret = stored(clean_environment["config"])["client_secret"]
    calls = log.read_text().splitlines()
    assert calls == [
        "secret set SPATIAFI_APP_CREDENTIALS --repo acme/deploy --env prod",
        "secret set SPATIAFI_CLIENT_ID --repo acme/deploy --env prod",
        "secret set SPATIAFI_CLIENT_SECRET --repo acme/deploy --env prod",
    ]
    assert secret not in log.read_text()
    values = Path(f"{log}.stdin").read_text().splitlines()
    assert json.loads(values[0])["client_secret"] == secret
    assert values[1:] == [out["client_id"], secret]
    assert out["published"] == [sink]


@pytest.mark.parametrize(
    ("sink", "fragment"),
    [
        ("ftp:x", "unknown sink kind"),
        ("github:acme", "not a GitHub sink"),
        ("github:acme/deploy?secret=bad name", "cannot name a GitHub secret"),
        ("command:", "is not a sink"),
    ],
)
def test_a_malformed_sink_is_a_usage_error_before_anything_is_sent(
    runner: RecordingRunner, service: EmulatorHandle, sink: str, fragment: str
) -> None:
    """exit 2, one sentence, no request."""
    result = runner.run([*ROTATE, "--publish", sink])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert service.counters() == {}


def test_dry_run_lists_the_sinks_it_would_write(
    runner: RecordingRunner, service: EmulatorHandle, aged: dict[str, Any], tmp_path: Path
) -> None:
    """--dry-run names each sink, and the revocation waits for them."""
    sink = file_sink(tmp_path / "shared.json")
    out = run_json(runner, [*ROTATE, "--dry-run", "--publish", sink])
    assert f"publish the new client to {sink}" in out["plan"]
    assert out["plan"][-1].endswith("once every sink has the new client")
    assert not (tmp_path / "shared.json").exists()
    assert service.counters() == {}
