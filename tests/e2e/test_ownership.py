"""
Issue 17's eleven cases, end to end against the emulator: revoke only what is provably ours
and no longer needed, and a refused answer leaves the service as it was. Each test failed
on the code before the ownership rule (tests/unit/test_ownership.py has the rule's table).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._api import BASIC_TOKEN_PATH, CLIENTS_PATH
from spatiafi_ops.emulator import Emulator, EmulatorHandle, Fault
from spatiafi_ops.emulator._config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from tests.conftest import RecordingRunner
from tests.e2e.rotation_support import (
    CREATE_ROUTE,
    DAY,
    DELETE_ROUTE,
    ROTATE,
    age_credentials,
    cli_process,
    finish,
    live_ids,
    mints,
    profile_dir,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)
from tests.hostile_server import HostileServer, json_answer, token_body

CREATE = ["credentials", "create"]
GOOD_ID = "5f0c7d4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"


def at(config: Path) -> dict[str, str]:
    """The environment of a run on another host: its own config dir."""
    return {"SPATIAFI_CONFIG_DIR": str(config)}


def copy_into(config: Path, source: Path, profile: str) -> None:
    """Give *profile* the credentials file *source* (as a person copying a file would)."""
    target = profile_dir(config, profile)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    (target / "app_credentials.json").write_bytes(source.read_bytes())
    (target / "app_credentials.json").chmod(0o600)


@pytest.fixture(name="aged")
def _aged(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> dict[str, Any]:
    """The default profile holding credentials 40 days old."""
    config = clean_environment["config"]
    out = run_json(runner, CREATE)
    age_credentials(config, 40 * DAY)
    record_stored_secrets(config)
    service.reset()
    return out


# 1


def test_1_a_fleet_run_never_revokes_a_client_another_profile_stores(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """Profile twin imported the default profile's file: rotating the older one keeps the
    client the twin uses; the twin still mints."""
    config = clean_environment["config"]
    twin = run_json(
        runner,
        ["--profile", "twin", "credentials", "import", str(config / "app_credentials.json")],
    )
    assert twin["client_id"] == aged["client_id"]
    age_credentials(config, 1 * DAY, "twin")  # young: only the default profile is due
    fleet = runner.run([*ROTATE, "--all-profiles", "--grace", "0"])
    assert fleet.exit_code == 0, fleet.stderr
    assert service.count(DELETE_ROUTE) == 0
    assert aged["client_id"] in live_ids(service)
    assert mints(service, stored(config, "twin"))
    assert runner.run(["--profile", "twin", "token"]).exit_code == 0


# 2


def test_2_a_rollback_by_import_is_never_undone(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    tmp_path: Path,
) -> None:
    """rotate --grace 2s, import the old file back --force, then the nightly rotate: the
    client the store holds stays; the rolled-back-from client is listed for the user."""
    config = clean_environment["config"]
    old_file = tmp_path / "OLD.json"
    old_file.write_bytes((config / "app_credentials.json").read_bytes())
    rotated = run_json(runner, [*ROTATE, "--grace", "2s"])
    rolled = run_json(
        runner, ["credentials", "import", str(old_file), "--force", "--created-at", "now"]
    )
    assert rolled["client_id"] == aged["client_id"]
    time.sleep(2.1)
    nightly = run_json(runner, ROTATE)
    assert nightly["action"] == "unchanged"
    assert nightly["revoked_client_ids"] == []
    assert nightly["manual_revoke_client_ids"] == [rotated["client_id"]]
    assert service.count(DELETE_ROUTE) == 0
    assert mints(service, stored(config))
    assert rotation_state(config)["previous"] is None


# 3


def test_3_another_hosts_new_client_is_never_taken_for_an_orphan(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """Host A's create is held by the network and then fails unprocessed while host B
    rotates: A reports B's fresh client as a possible orphan and leaves it working."""
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    for host in (host_a, host_b):
        result = runner.run(CREATE, env=at(host))
        assert result.exit_code == 0, result.stderr
        age_credentials(host, 40 * DAY)
    record_stored_secrets(host_a)
    record_stored_secrets(host_b)
    service.set_faults(
        Fault(route=CREATE_ROUTE, kind="latency", latency=1.5, times=1),
        Fault(route=CREATE_ROUTE, kind="drop", times=1),
    )
    process_a = cli_process(*ROTATE, "--grace", "0", env=at(host_a))
    wait_for(lambda: _create_sent(host_a))
    time.sleep(0.2)  # A's create is in the network
    b_rotated = runner.run([*ROTATE, "--grace", "0"], env=at(host_b))
    assert b_rotated.exit_code == 0, b_rotated.stderr
    b_client = json.loads(b_rotated.stdout)["client_id"]
    code, _, err = finish(process_a)
    assert code == 4, err
    record_stored_secrets(host_b)
    assert b_client in live_ids(service)
    assert mints(service, stored(host_b))
    again = runner.run([*ROTATE, "--grace", "0"], env=at(host_a))
    assert again.exit_code == 0, again.stderr
    assert b_client in live_ids(service)
    assert mints(service, stored(host_b))
    record_stored_secrets(host_a)


# 4


def test_4_a_sink_owed_the_new_client_keeps_the_old_one_whoever_runs_next(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """A failed sink keeps the old client (exit 4); a later run that does not name that
    sink keeps it too, and says so; --forget-sink lets it go."""
    config = clean_environment["config"]
    failing = "command:cat >/dev/null; exit 75"
    first = runner.run([*ROTATE, "--grace", "0", "--publish", failing])
    assert first.exit_code == 4, first.stderr
    record_stored_secrets(config)
    by_hand = run_json(runner, [*ROTATE, "--grace", "0"])
    assert by_hand["revoked_client_ids"] == []
    assert any(failing in warning for warning in by_hand["warnings"])
    assert aged["client_id"] in live_ids(service)
    assert rotation_state(config)["published"]["owed"] == [failing]
    forgot = run_json(runner, [*ROTATE, "--grace", "0", "--forget-sink", failing])
    assert forgot["revoked_client_ids"] == [aged["client_id"]]


# 5 is a publish confirmed only by AWS's real answer: tests/aws/test_failures.py
# (test_a_200_that_does_not_name_our_version_of_the_secret_is_no_write).


# 6


def test_6_a_copied_journals_revocations_never_reach_another_profiles_client(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Profile b's journal, copied from a and edited to revoke a's client: a plain rotate
    of b keeps a's client."""
    config = clean_environment["config"]
    a = run_json(runner, ["--profile", "a", *CREATE])
    run_json(runner, ["--profile", "b", *CREATE])
    record_stored_secrets(config)
    state = rotation_state(config, "a")
    state["revoking"] = [a["client_id"]]
    journal = profile_dir(config, "b") / "rotation-state.json"
    journal.write_text(json.dumps(state))
    out = run_json(runner, ["--profile", "b", *ROTATE])
    assert out["revoked_client_ids"] == []
    assert any(a["client_id"] in warning for warning in out["warnings"])
    assert service.count(DELETE_ROUTE) == 0
    assert mints(service, stored(config, "a"))
    assert rotation_state(config, "b")["revoking"] == []


# 7


def test_7_a_hand_revocation_refuses_shared_and_unknown_clients(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A client another profile stores: exit 5 without --force, and never on the hand-revoke
    list. A client this profile never knew: exit 5. An id nobody knows: "no such client"."""
    config = clean_environment["config"]
    a = run_json(runner, ["--profile", "a", *CREATE])
    shared = a["client_id"]
    copy_into(config, profile_dir(config, "a") / "app_credentials.json", "b")
    record_stored_secrets(config)
    rotated = run_json(runner, ["--profile", "b", *ROTATE, "--max-age", "0", "--grace", "1h"])
    record_stored_secrets(config)
    assert rotated["previous_client_id"] == shared
    by_b = runner.run(["--profile", "b", "credentials", "revoke", shared])
    assert by_b.exit_code == 5, by_b.stderr
    assert "profile 'a' stores it" in by_b.stderr
    by_c = runner.run(["--profile", "c", "credentials", "revoke", shared])
    assert by_c.exit_code == 5, by_c.stderr
    assert "nothing in profile 'c'" in by_c.stderr
    unknown = runner.run(["credentials", "revoke", GOOD_ID])
    assert unknown.exit_code == 5, unknown.stderr
    assert "no such client" in unknown.stderr
    assert service.count(DELETE_ROUTE) == 0
    replaced = run_json(runner, ["--profile", "b", *CREATE, "--force", "--keep-old"])
    record_stored_secrets(config)
    assert shared not in replaced["manual_revoke_client_ids"]  # profile a stores it
    assert rotated["client_id"] in replaced["manual_revoke_client_ids"]
    assert mints(service, stored(config, "a"))
    forced = run_json(runner, ["--profile", "c", "credentials", "revoke", shared, "--force"])
    assert forced["revoked_client_ids"] == [shared]


# 8


@pytest.fixture(name="newline_service")
def _newline_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A service that issues a secret with a newline in it, and deletes what it is asked."""
    server = HostileServer(
        {
            BASIC_TOKEN_PATH: json_answer(200, token_body()),
            CLIENTS_PATH: json_answer(
                201, {"client_id": GOOD_ID, "client_secret": "line\nbreak" + "s" * 40}
            ),
            CLIENTS_PATH + GOOD_ID: json_answer(204, {}),
        }
    )
    monkeypatch.setenv("SPATIAFI_AUTH_URL", server.url)
    monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
    monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
    yield server
    server.close()


def test_8_a_created_secret_the_store_cannot_hold_is_revoked_at_once_never_a_loop(
    runner: RecordingRunner, newline_service: HostileServer, clean_environment: dict[str, Path]
) -> None:
    """One create, the client it names revoked, exit 5 saying why; a rerun does the same
    once more (never 8 clients a run)."""
    for run in (1, 2):
        result = runner.run(CREATE)
        assert result.exit_code == 5, result.stderr
        assert "cannot hold" in result.stderr
        assert "revoked at once" in result.stderr
        assert newline_service.count(CLIENTS_PATH) == run
        assert newline_service.count(CLIENTS_PATH + GOOD_ID) == run
    assert not (clean_environment["config"] / "app_credentials.json").exists()


# 9


@pytest.fixture(name="crowded_service")
def _crowded_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorHandle]:
    """An emulator whose account already has 7,000 clients."""
    emulator = Emulator()
    handle = emulator.start()
    try:
        user_id = handle.create_client().user_id
        assert user_id is not None
        for _ in range(7000):
            emulator.state.create_client(user_id)
        monkeypatch.setenv("SPATIAFI_AUTH_URL", handle.url)
        monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
        monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
        yield handle
    finally:
        emulator.stop()


@pytest.mark.posix("the crash hook kills with SIGKILL")
def test_9_a_journal_written_beside_7000_clients_is_read_back(
    runner: RecordingRunner, crowded_service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A run killed mid-create on a crowded account: the next run reads its journal."""
    config = clean_environment["config"]
    run_json(runner, CREATE)
    age_credentials(config, 40 * DAY)
    record_stored_secrets(config)
    from spatiafi_ops.rotation import CRASH_ENV

    code, _, err = finish(cli_process(*ROTATE, env={CRASH_ENV: "planned"}))
    assert code == -signal.SIGKILL, err
    assert (config / "rotation-state.json").stat().st_size < 64 * 1024
    out = run_json(runner, ROTATE)
    record_stored_secrets(config)
    assert out["action"] == "rotated"


# 10


@pytest.mark.posix("kills the run with SIGKILL")
def test_10_a_create_in_flight_when_killed_is_tracked_when_it_lands_late(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """rotate killed while its create is in flight, rerun at once: the client that lands
    afterwards is reported by the next run (and recorded in the journal)."""
    config = clean_environment["config"]
    service.set_faults(Fault(route=CREATE_ROUTE, kind="latency", latency=2.0, times=1))
    process = cli_process(*ROTATE, "--grace", "0")
    wait_for(lambda: _create_sent(config))
    time.sleep(0.3)  # the POST is on the wire, its answer 1.7 s away
    process.send_signal(signal.SIGKILL)
    finish(process)
    rerun = run_json(runner, [*ROTATE, "--grace", "0"])
    record_stored_secrets(config)
    wait_for(lambda: len(live_ids(service)) == 2)  # rerun's client, and the late one
    (late,) = live_ids(service) - {rerun["client_id"]}
    later = run_json(runner, [*ROTATE, "--grace", "0"])
    assert late in rerun["orphaned_client_ids"] + later["orphaned_client_ids"]
    assert late in rotation_state(config)["orphaned_client_ids"]


def _create_sent(config: Path) -> bool:
    try:
        journal = rotation_state(config)["rotation"]
    except (OSError, ValueError):
        return False
    return bool(journal and journal["create_attempts"])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# 11


@pytest.mark.posix("a stand-in gh as a shell script")
def test_11_a_failed_pair_write_puts_the_id_back(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """?pair=: the secret's write fails after the id's: the id is put back to the previous
    client, so the pair still mints. (A stand-in gh: the real one reaches GitHub.)"""
    store = tmp_path / "github"
    store.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{tmp_path}/fail" ] && [ "$3" = SPATIAFI_CLIENT_SECRET ]; then exit 1; fi\n'
        f'cat > "{store}/$3"\n'
    )
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sink = "github:acme/deploy?pair=SPATIAFI_"
    config = clean_environment["config"]
    first = run_json(runner, [*CREATE, "--publish", sink])
    age_credentials(config, 40 * DAY)
    (tmp_path / "fail").touch()
    failed = runner.run([*ROTATE, "--publish", sink])
    record_stored_secrets(config)
    assert failed.exit_code == 4, failed.stderr
    pair = {
        "client_id": (store / "SPATIAFI_CLIENT_ID").read_text(),
        "client_secret": (store / "SPATIAFI_CLIENT_SECRET").read_text(),
    }
    assert pair["client_id"] == first["client_id"]
    assert mints(service, pair)


@pytest.mark.parametrize(
    ("delete", "why"),
    [
        (json_answer(405, {"detail": "Method Not Allowed"}), "the service cannot delete"),
        (json_answer(503, {"detail": "down"}), "failed"),
    ],
    ids=["cannot-delete", "delete-fails"],
)
def test_8_a_refused_client_whose_revoke_fails_is_named_and_still_exit_5(
    runner: RecordingRunner,
    monkeypatch: pytest.MonkeyPatch,
    clean_environment: dict[str, Path],
    delete: Any,
    why: str,
) -> None:
    """The cleanup of an unusable client can fail too: the refusal (exit 5) still wins, and
    the run names the client and the command that revokes it, never "revoked at once"."""
    server = HostileServer(
        {
            BASIC_TOKEN_PATH: json_answer(200, token_body()),
            CLIENTS_PATH: json_answer(
                201, {"client_id": GOOD_ID, "client_secret": "ab\ud800cd" + "s" * 40}
            ),
            CLIENTS_PATH + GOOD_ID: delete,
        }
    )
    monkeypatch.setenv("SPATIAFI_AUTH_URL", server.url)
    monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
    monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("SPATIAFI_DEADLINE", "2")
    try:
        result = runner.run(CREATE)
    finally:
        server.close()
    assert result.exit_code == 5, result.stderr
    assert "cannot hold" in result.stderr
    assert "revoked at once" not in result.stderr
    assert why in result.stderr
    assert f"credentials revoke {GOOD_ID}" in result.stderr
    assert [r.method for r in server.requests if r.path == CLIENTS_PATH].count("POST") == 1
    assert not (clean_environment["config"] / "app_credentials.json").exists()
