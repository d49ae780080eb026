"""
`credentials ensure` and `credentials revoke`, end to end against the emulator.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from spatiafi_ops._files import exclusive_lock
from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, record_secret
from tests.e2e.rotation_support import (
    BASIC_ROUTE,
    CREATE_ROUTE,
    DAY,
    ENSURE,
    ROTATE,
    TOKEN_ROUTE,
    age_credentials,
    crash,
    file_tree,
    live_ids,
    mints,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)

REVOKE = ["credentials", "revoke"]


def test_ensure_creates_once_then_only_mints_a_token(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Run twice: created, then unchanged with one token request, no login, no write."""
    config = clean_environment["config"]
    first = run_json(runner, ENSURE)
    assert first["action"] == "created"
    assert first["previous_client_id"] is None
    assert stored(config)["client_id"] == first["client_id"]
    assert service.count(CREATE_ROUTE) == 1
    service.reset()
    before = file_tree(config)
    second = run_json(runner, ENSURE)
    assert second["action"] == "unchanged"
    assert second["client_id"] == first["client_id"]
    assert service.counters() == {"POST /api/v1/auth/jwt/token": 1}
    assert file_tree(config) == before


def test_ensure_with_working_credentials_needs_no_password(
    runner: RecordingRunner, service: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password is asked for only when the run must log in."""
    run_json(runner, ENSURE)
    monkeypatch.delenv("SPATIAFI_PASSWORD")
    assert run_json(runner, ENSURE)["action"] == "unchanged"


def test_ensure_replaces_rejected_credentials_and_keeps_them_in_the_backups(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A revoked client is replaced; the rejected file is kept, never silently lost."""
    config = clean_environment["config"]
    old = run_json(runner, ENSURE)
    service.delete_client(old["client_id"])
    out = run_json(runner, ENSURE)
    record_stored_secrets(config)
    assert out["action"] == "replaced"
    assert out["previous_client_id"] == old["client_id"]
    assert out["client_id"] == stored(config)["client_id"] != old["client_id"]
    assert mints(service, stored(config))
    (backup,) = (config / "backups").iterdir()
    assert json.loads(backup.read_text())["client_id"] == old["client_id"]
    assert rotation_state(config)["rotation"] is None


def test_ensure_retries_transient_failures_and_never_takes_them_for_a_rejection(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """503s on the token route are retried; the working credential is kept."""
    run_json(runner, ENSURE)
    service.reset()
    service.set_faults(Fault(route=TOKEN_ROUTE, status=503, times=2, retry_after=0))
    out = run_json(runner, ENSURE)
    assert out["action"] == "unchanged"
    assert service.count(TOKEN_ROUTE) == 3
    assert service.count(CREATE_ROUTE) == 0


def test_ensure_exits_4_when_the_service_keeps_failing_and_creates_nothing(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A service that never recovers within --deadline is exit 4, not a replacement."""
    old = run_json(runner, ENSURE)
    service.set_faults(Fault(route=TOKEN_ROUTE, status=503, retry_after=0))
    result = runner.run(["--deadline", "1", *ENSURE])
    assert result.exit_code == 4
    assert service.count(CREATE_ROUTE) == 1
    assert stored(clean_environment["config"])["client_id"] == old["client_id"]
    assert "ensure_failed" in result.stderr


def test_ensure_with_a_bad_password_exits_3_and_leaves_no_journal(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A refused login is never an ambiguous create: nothing to reconcile afterwards."""
    result = runner.run(ENSURE, env={"SPATIAFI_PASSWORD": "wrong-password-123"})
    assert result.exit_code == 3
    assert service.count(CREATE_ROUTE) == 0
    config = clean_environment["config"]
    assert not (config / "app_credentials.json").exists()
    assert not (config / "rotation-state.json").exists()


def test_ensure_dry_run_writes_nothing(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Missing: a plan, no directory, no request. Rejected: a plan after one token request."""
    config = clean_environment["config"]
    planned = run_json(runner, [*ENSURE, "--dry-run"])
    assert planned["action"] == "planned"
    assert planned["plan"][0] == "create a new client and journal its secret"
    assert not config.exists()
    assert service.counters() == {}
    old = run_json(runner, ENSURE)
    service.delete_client(old["client_id"])
    service.reset()
    before = file_tree(config)
    rejected = run_json(runner, [*ENSURE, "--dry-run"])
    assert rejected["action"] == "planned"
    assert rejected["reason"] == "the stored credentials were rejected"
    assert file_tree(config) == before
    assert service.counters() == {"POST /api/v1/auth/jwt/token": 1}


def test_revoke_refuses_the_current_credential_without_force(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Revoking what consumers use needs --force; then the result warns to replace it."""
    current = run_json(runner, ENSURE)
    service.reset()
    refused = runner.run([*REVOKE, current["client_id"]])
    assert refused.exit_code == 5
    assert "pass --force" in refused.stderr
    assert service.counters() == {}
    forced = run_json(runner, [*REVOKE, current["client_id"], "--force"])
    assert forced["action"] == "revoked"
    assert forced["revoked_client_ids"] == [current["client_id"]]
    assert "credentials ensure" in forced["warnings"][0]
    assert live_ids(service) == set()


def test_revoke_the_previous_client_clears_it_from_the_state(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """After a rotation with a grace period, revoking the old client ends the grace early."""
    config = clean_environment["config"]
    old = run_json(runner, ENSURE)
    rotated = run_json(runner, [*ROTATE, "--max-age", "0", "--grace", "1h"])
    assert rotation_state(config)["previous"]["client_id"] == old["client_id"]
    out = run_json(runner, [*REVOKE, old["client_id"]])
    assert out["action"] == "revoked"
    assert out["client_id"] == rotated["client_id"]
    assert out["reason"] is None
    assert rotation_state(config)["previous"] is None
    assert live_ids(service) == {rotated["client_id"]}
    again = run_json(runner, [*REVOKE, old["client_id"]])
    assert again["reason"] == f"client {old['client_id']} was already gone"
    assert service.count(BASIC_ROUTE) >= 1


def test_revoke_on_a_service_without_deletion_exits_4(
    runner: RecordingRunner,
    unmanaged_service: EmulatorHandle,
    clean_environment: dict[str, Path],
) -> None:
    """The service cannot revoke: say so and name the client to revoke by hand."""
    handle = unmanaged_service
    other = handle.create_client()
    record_secret(other.client_secret)
    result = runner.run([*REVOKE, other.client_id])
    assert result.exit_code == 4
    assert f"revoke client {other.client_id} by hand" in result.stderr
    assert other.client_id in live_ids(handle)


def test_ensure_waits_for_another_runs_lock_instead_of_answering_for_it(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """ensure promises working credentials when it returns: it waits, then creates."""

    lock = clean_environment["config"] / ".lock"
    held = threading.Event()

    def hold() -> None:
        with exclusive_lock(lock):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    out = run_json(runner, ENSURE)
    holder.join()
    assert out["action"] == "created"
    assert out["client_id"] == stored(clean_environment["config"])["client_id"]


def test_create_over_an_unfinished_rotation_finishes_it_instead_of_creating(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """create --force over a journaled rotation resumes it: no client is stranded or added."""
    config = clean_environment["config"]
    run_json(runner, ENSURE)
    age_credentials(config, 40 * DAY)
    crash(*ROTATE, step="journaled")
    record_stored_secrets(config)
    pending = rotation_state(config)["rotation"]["pending"]["client_id"]
    finished = run_json(runner, ["credentials", "create", "--force"])
    assert finished["action"] == "rotated"
    assert finished["resumed"] is True
    assert finished["client_id"] == pending == stored(config)["client_id"]
    assert service.count(CREATE_ROUTE) == 2  # ensure's and the rotation's: none more


def test_the_tutorials_legacy_file_is_retired_once_credentials_are_written(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Read as a fallback, then moved to the backups so it cannot serve a replaced secret."""
    config = clean_environment["config"]
    config.mkdir(mode=0o700, parents=True)
    legacy = config / "app_credentials"
    old = service.create_client()
    record_secret(old.client_secret)
    tutorial = {"user_id": old.user_id, "client_id": old.client_id}
    legacy.write_text(json.dumps({**tutorial, "client_secret": old.client_secret}))
    legacy.chmod(0o600)
    out = run_json(runner, [*ROTATE, "--max-age", "0", "--grace", "0"])
    assert out["previous_client_id"] == old.client_id
    assert not legacy.exists()
    assert any(p.name.endswith("-legacy.json") for p in (config / "backups").iterdir())
