"""
`credentials rotate`, end to end against the emulator over real sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._files import exclusive_lock
from spatiafi_ops._models import format_timestamp
from spatiafi_ops.emulator import EmulatorHandle, Fault
from spatiafi_ops.rotation import _service
from tests.conftest import RecordingRunner, json_lines, record_output, record_secret
from tests.e2e.rotation_support import (
    BASIC_ROUTE,
    CREATE_ROUTE,
    DAY,
    DELETE_ROUTE,
    ENSURE,
    ROTATE,
    TOKEN_ROUTE,
    age_credentials,
    cli_process,
    file_tree,
    finish,
    live_ids,
    mints,
    profile_dir,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)


def test_young_credentials_are_not_rotated_and_nothing_is_sent(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Run twice: both are no-ops with no request at all, and no file changes."""
    created = run_json(runner, ENSURE)
    service.reset()
    before = file_tree(clean_environment["config"])
    for _ in range(2):
        out = run_json(runner, ROTATE)
        assert out["action"] == "unchanged"
        assert out["client_id"] == created["client_id"]
        assert "younger than 30d" in out["reason"]
    assert service.counters() == {}
    assert file_tree(clean_environment["config"]) == before


@pytest.mark.parametrize(
    ("age", "max_age", "action"),
    [
        (100, "110s", "unchanged"),
        (100, "90s", "rotated"),
        (2 * DAY, "2d", "rotated"),  # at the limit: not younger, so rotated
        (2 * DAY - 30, "2d", "unchanged"),
        (-1, "30d", "rotated"),  # no created_at (a py-spatiafi file): age unknown
        (0, "0", "rotated"),
    ],
)
def test_max_age_boundaries(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    age: int,
    max_age: str,
    action: str,
) -> None:
    """Rotate once the credential is at least --max-age old, never while younger."""
    first = run_json(runner, ENSURE)
    age_credentials(clean_environment["config"], age)
    service.reset()
    out = run_json(runner, [*ROTATE, "--max-age", max_age])
    assert out["action"] == action
    assert service.count(CREATE_ROUTE) == (1 if action == "rotated" else 0)
    if action == "rotated":
        assert out["previous_client_id"] == first["client_id"]
        assert stored(clean_environment["config"])["client_id"] == out["client_id"]


def test_rotation_with_no_grace_switches_and_revokes_the_old_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """create → journal → verify → switch → revoke in one run; the old token cache is gone,
    and the token verification minted is cached for the new client."""
    config, cache = clean_environment["config"], clean_environment["cache"]
    assert runner.run(["token"]).exit_code == 0
    (old_cache,) = cache.glob("token-*.json")
    result = runner.run([*ROTATE, "--grace", "0"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    new = stored(config)
    record_stored_secrets(config)
    assert out["action"] == "rotated"
    assert out["client_id"] == new["client_id"] != aged["client_id"]
    assert out["previous_client_id"] == aged["client_id"]
    assert out["revoked_client_ids"] == [aged["client_id"]]
    assert out["created_at"] == new["created_at"]
    assert live_ids(service) == {new["client_id"]}
    assert mints(service, new)
    assert not mints(service, aged)
    (new_cache,) = cache.glob("token-*.json")
    assert new_cache != old_cache
    assert json.loads(new_cache.read_text())["client_id"] == new["client_id"]
    service.reset()
    assert runner.run(["token"]).exit_code == 0
    assert service.counters() == {}
    state = rotation_state(config)
    assert state["rotation"] is None
    assert state["previous"] is None
    assert new["client_secret"] not in result.stdout + result.stderr
    (event,) = [e for e in json_lines(result.stderr) if e["event"] == "rotation_finished"]
    assert event["action"] == "rotated"
    assert event["rotation_id"] == out["rotation_id"]


def test_grace_keeps_the_old_client_until_a_later_run_revokes_it(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """The old client stays valid and readable as `previous`; a run after the grace revokes it."""
    config = clean_environment["config"]
    out = run_json(runner, [*ROTATE, "--grace", "1h"])
    assert out["action"] == "rotated"
    assert out["revoked_client_ids"] == []
    assert out["revoke_after"] is not None
    state = rotation_state(config)
    assert state["previous"]["client_id"] == aged["client_id"]
    assert state["previous"]["client_secret"] == aged["client_secret"]
    assert mints(service, aged)
    service.reset()
    again = run_json(runner, [*ROTATE, "--max-age", "0"])
    assert again["action"] == "unchanged"
    assert "awaits revocation" in again["reason"]
    assert service.counters() == {}
    state["previous"]["revoke_after"] = format_timestamp(time.time() - 1)
    (config / "rotation-state.json").write_text(json.dumps(state))
    later = run_json(runner, ROTATE)
    assert later["action"] == "revoked"
    assert later["revoked_client_ids"] == [aged["client_id"]]
    assert later["client_id"] == out["client_id"]
    assert live_ids(service) == {out["client_id"]}
    assert rotation_state(config)["previous"] is None


def test_keep_old_never_revokes_and_hands_the_old_client_to_the_user(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """--keep-old keeps the old client; the next rotation backs it up and names it to revoke."""
    config = clean_environment["config"]
    first = run_json(runner, [*ROTATE, "--keep-old", "--grace", "0"])
    assert first["revoked_client_ids"] == []
    assert rotation_state(config)["previous"]["revoke_after"] is None
    second = run_json(runner, [*ROTATE, "--max-age", "0", "--grace", "0"])
    assert second["action"] == "rotated"
    assert second["manual_revoke_client_ids"] == [aged["client_id"]]
    assert second["revoked_client_ids"] == [first["client_id"]]
    assert aged["client_id"] in live_ids(service)
    backups = [json.loads(p.read_text()) for p in (config / "backups").iterdir()]
    assert aged["client_id"] in {b["client_id"] for b in backups}


def test_a_service_without_deletion_reports_the_client_to_revoke_by_hand(
    runner: RecordingRunner,
    unmanaged_service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged_unmanaged: dict[str, Any],
) -> None:
    """No DELETE route: the run still succeeds and names the old client; nothing is lost."""
    handle = unmanaged_service
    config = clean_environment["config"]
    old = aged_unmanaged
    result = runner.run([*ROTATE, "--grace", "0"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["action"] == "rotated"
    assert out["revoked_client_ids"] == []
    assert out["manual_revoke_client_ids"] == [old["client_id"]]
    assert any(old["client_id"] in warning for warning in out["warnings"])
    assert "revoke_unsupported" in result.stderr
    assert live_ids(handle) == {old["client_id"], out["client_id"]}
    assert rotation_state(config)["previous"] is None
    backups = [json.loads(p.read_text()) for p in (config / "backups").iterdir()]
    assert [b["client_id"] for b in backups] == [old["client_id"]]
    assert handle.count(DELETE_ROUTE) == 1  # tried once: 405, no such route


def test_a_lost_create_response_is_reported_and_left_live(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """The client is created but the answer lost: nothing ties it to us, so it is reported
    (id, creation time, the command that revokes it) and left live; one create per run."""
    config = clean_environment["config"]
    service.set_faults(Fault(route=CREATE_ROUTE, kind="drop", after=True, times=1))
    failed = runner.run([*ROTATE, "--grace", "0"])
    assert failed.exit_code == 4, failed.stderr
    assert service.count(CREATE_ROUTE) == 1
    (orphan,) = live_ids(service) - {aged["client_id"]}
    assert f"credentials revoke {orphan}" in failed.stderr
    assert rotation_state(config)["orphaned_client_ids"] == [orphan]
    out = run_json(runner, [*ROTATE, "--grace", "0"])
    assert out["action"] == "rotated"
    assert out["revoked_client_ids"] == [aged["client_id"]]
    assert service.count(CREATE_ROUTE) == 2
    assert live_ids(service) == {out["client_id"], orphan}
    assert stored(config)["client_id"] == out["client_id"]


def test_on_an_exclusive_account_a_lost_creates_client_is_revoked(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """--exclusive-account: no other machine creates clients here, so the orphan is ours:
    revoked, and the run creates once more."""
    config = clean_environment["config"]
    run_json(runner, ["credentials", "create", "--exclusive-account"])
    assert rotation_state(config)["exclusive_account"] is True
    age_credentials(config, 40 * DAY)
    service.set_faults(Fault(route=CREATE_ROUTE, kind="drop", after=True, times=1))
    out = run_json(runner, [*ROTATE, "--grace", "0"])
    assert out["action"] == "rotated"
    (orphan,) = out["orphaned_client_ids"]
    assert set(out["revoked_client_ids"]) == {orphan, out["previous_client_id"]}
    assert service.count(CREATE_ROUTE) == 3  # the first create, the lost one, its retry
    assert live_ids(service) == {out["client_id"]}


def test_a_lost_create_on_a_service_that_cannot_list_is_never_reposted_in_the_same_run(
    runner: RecordingRunner,
    unmanaged_service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged_unmanaged: dict[str, Any],
) -> None:
    """Exit 4 and keep the old credential, warning about the possible orphan; the next run
    creates once."""
    handle = unmanaged_service
    config = clean_environment["config"]
    old = aged_unmanaged
    handle.set_faults(Fault(route=CREATE_ROUTE, kind="drop", after=True, times=1))
    failed = runner.run(ROTATE)
    assert failed.exit_code == 4
    assert "not repeated" in failed.stderr
    assert "cannot list" in failed.stderr
    assert handle.count(CREATE_ROUTE) == 2  # the ensure, and the one lost answer
    assert stored(config)["client_id"] == old["client_id"]
    assert rotation_state(config)["rotation"]["phase"] == "planned"
    out = run_json(runner, ROTATE)
    assert out["action"] == "rotated"
    assert out["resumed"] is True
    assert len(live_ids(handle)) == 3  # old (in grace), the unknowable orphan, new


def test_verification_waits_for_a_new_client_to_propagate(
    runner: RecordingRunner, service: EmulatorHandle, aged: dict[str, Any]
) -> None:
    """Two rejections of the new client right after its creation are retried, then it switches."""
    service.set_faults(Fault(route=TOKEN_ROUTE, status=401, times=2))
    out = run_json(runner, [*ROTATE, "--grace", "0"])
    assert out["action"] == "rotated"
    assert service.count(TOKEN_ROUTE) == 3
    assert service.count(CREATE_ROUTE) == 1


def test_a_new_client_that_never_mints_is_discarded_and_the_old_one_kept(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Verify before switch: exit 3, the store unchanged, the useless new client revoked."""
    monkeypatch.setattr(_service, "VERIFY_ATTEMPTS", 2)
    service.set_faults(Fault(route=TOKEN_ROUTE, status=401))
    result = runner.run([*ROTATE, "--grace", "0"])
    assert result.exit_code == 3
    assert "kept rejecting it" in result.stderr
    config = clean_environment["config"]
    assert stored(config)["client_id"] == aged["client_id"]
    assert rotation_state(config)["rotation"] is None
    assert live_ids(service) == {aged["client_id"]}
    assert service.count(TOKEN_ROUTE) == 2


def test_dry_run_writes_nothing_and_sends_nothing(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """--dry-run prints planned steps; files, lock and emulator counters stay as they were."""
    config = clean_environment["config"]
    before = file_tree(config)
    out = run_json(runner, [*ROTATE, "--dry-run", "--grace", "0"])
    assert out["action"] == "planned"
    assert out["client_id"] == aged["client_id"]
    assert out["plan"][0] == "create a new client and journal its secret"
    assert out["plan"][-1] == f"revoke {aged['client_id']} now (no grace period)"
    assert "max age 30d" in out["reason"]
    assert file_tree(config) == before
    assert service.counters() == {}


def test_a_held_lock_exits_0_and_wait_exits_5(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """Another run holds the lock: say so and succeed; with --wait, time out with exit 5."""
    with exclusive_lock(clean_environment["config"] / ".lock") as acquired:
        assert acquired
        skipped = run_json(runner, ROTATE)
        assert skipped["action"] == "unchanged"
        assert "another run holds the lock" in skipped["reason"]
        waited = runner.run([*ROTATE, "--wait", "0.3"])
        assert waited.exit_code == 5
        assert "still holds" in waited.stderr
    assert service.counters() == {}
    assert run_json(runner, ROTATE)["action"] == "rotated"


@pytest.mark.slow
def test_eight_concurrent_rotations_of_one_profile_rotate_once(
    service: EmulatorHandle, clean_environment: dict[str, Path], aged: dict[str, Any]
) -> None:
    """8 processes at once: one rotates, the others exit 0 (lock held, or nothing left to do)."""
    # A slow create keeps the winner inside its lock while the others start.
    service.set_faults(Fault(route=CREATE_ROUTE, kind="latency", latency=1.5))
    processes = [cli_process(*ROTATE) for _ in range(8)]
    results = [finish(process) for process in processes]
    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    outs = [json.loads(stdout) for _, stdout, _ in results]
    assert sorted(out["action"] for out in outs) == ["rotated"] + ["unchanged"] * 7
    assert any("another run holds the lock" in (out["reason"] or "") for out in outs)
    assert service.count(CREATE_ROUTE) == 1
    new = stored(clean_environment["config"])
    record_stored_secrets(clean_environment["config"])
    assert live_ids(service) == {aged["client_id"], new["client_id"]}
    assert mints(service, new)


def test_rotate_without_stored_credentials_exits_5(runner: RecordingRunner, service: Any) -> None:
    """Nothing to rotate: say how to create credentials; send nothing."""
    result = runner.run(ROTATE)
    assert result.exit_code == 5
    assert "credentials ensure" in result.stderr
    assert service.counters() == {}


def test_all_profiles_rotates_each_under_its_lock_and_reports_failures(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """One login for the fleet; a broken profile fails alone; the exit code says so."""
    config = clean_environment["config"]
    names = ["alpha", "bravo", "charlie", "delta"]
    for name in names:
        run_json(runner, ["--profile", name, *ENSURE])
    (profile_dir(config, "delta") / "app_credentials.json").write_text("{broken")
    service.reset()
    result = runner.run(
        [*ROTATE, "--all-profiles", "--concurrency", "3", "--max-age", "0", "--grace", "0"]
    )
    assert result.exit_code == 5, result.stderr
    out = json.loads(result.stdout)
    assert out["total"] == 4
    assert out["failed"] == 1
    assert out["actions"] == {"rotated": 3, "failed": 1}
    by_name = {entry["profile"]: entry for entry in out["profiles"]}
    assert by_name["delta"]["error_type"] == "CredentialFileError"
    assert by_name["delta"]["exit_code"] == 5
    assert service.count(BASIC_ROUTE) == 1
    assert service.count(CREATE_ROUTE) == 3
    assert service.count(DELETE_ROUTE) == 3
    record_stored_secrets(config)
    for name in names[:3]:
        assert stored(config, name)["client_id"] == by_name[name]["client_id"]
    again = runner.run([*ROTATE, "--all-profiles", "--dry-run"])
    assert again.exit_code == 5
    assert json.loads(again.stdout)["actions"] == {"planned": 3, "failed": 1}


def test_reconciling_never_revokes_another_machines_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """A client that existed before our lost create (same account, other host) survives."""
    other = service.create_client()
    record_secret(other.client_secret)
    service.set_faults(Fault(route=CREATE_ROUTE, kind="drop", times=1))
    assert runner.run([*ROTATE, "--grace", "0"]).exit_code == 4
    out = run_json(runner, [*ROTATE, "--grace", "0"])
    assert out["action"] == "rotated"
    assert other.client_id in live_ids(service)
    assert service.count(DELETE_ROUTE) == 1  # the replaced client only


def test_a_fleet_run_logging_from_many_threads_keeps_stdout_pure_json(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Threads that log first at once must not print before logging is set up (stdout)."""
    for index in range(8):
        run_json(runner, ["--profile", f"p{index}", *ENSURE])
    fleet = ["--all-profiles", "--concurrency", "8", "--max-age", "0", "--grace", "0"]
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", *ROTATE, *fleet],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "SPATIAFI_LOG_LEVEL": "info"},
    )
    record_output(proc.stderr)
    record_stored_secrets(clean_environment["config"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["actions"] == {"rotated": 8}


def test_a_failed_revocation_after_the_switch_is_deferred_not_fatal(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """The switch is durable; a DELETE that keeps failing leaves the revocation to a later run."""
    service.set_faults(Fault(route=DELETE_ROUTE, status=503))
    first = runner.run(["--deadline", "3", *ROTATE, "--grace", "0"])
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["action"] == "rotated"
    assert any(f"revoking client {aged['client_id']} failed" in w for w in out["warnings"])
    assert stored(clean_environment["config"])["client_id"] == out["client_id"]
    assert rotation_state(clean_environment["config"])["rotation"] is None
    service.clear_faults()
    again = run_json(runner, ROTATE)
    assert again["action"] == "revoked"
    assert again["revoked_client_ids"] == [aged["client_id"]]
    assert live_ids(service) == {out["client_id"]}


def test_a_previous_client_another_profile_still_stores_is_never_revoked(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged: dict[str, Any],
) -> None:
    """A copied credentials file: rotating one profile must not cut the other off."""
    config = clean_environment["config"]
    twin = profile_dir(config, "twin")
    twin.mkdir(parents=True, mode=0o700)
    shutil.copy2(config / "app_credentials.json", twin / "app_credentials.json")
    out = run_json(runner, [*ROTATE, "--grace", "0"])
    assert out["action"] == "rotated"
    assert out["revoked_client_ids"] == []
    assert out["manual_revoke_client_ids"] == []  # some profile stores it: not for the user
    assert any("'twin' stores it" in warning for warning in out["warnings"])
    assert aged["client_id"] in live_ids(service)
    # Once the twin has moved on too, the last holder's run revokes it: nothing leaks.
    twin_out = run_json(runner, ["--profile", "twin", *ROTATE, "--grace", "0", "--max-age", "0"])
    assert twin_out["revoked_client_ids"] == [aged["client_id"]]
    assert live_ids(service) == {out["client_id"], twin_out["client_id"]}
