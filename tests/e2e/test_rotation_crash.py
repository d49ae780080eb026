"""
Crash safety: a rotation killed with SIGKILL at every step, then resumed by the next run.

The kill comes from the documented test hook ``SPATIAFI_OPS_CRASH_AT=<step>``
(``spatiafi_ops.rotation._engine.crash_point``) in a real ``python -m spatiafi_ops`` process:
SIGKILL on POSIX, ``os._exit`` on Windows (tests/platforms.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.rotation import CRASH_POINTS
from tests.conftest import RecordingRunner
from tests.e2e.rotation_support import (
    CREATE_ROUTE,
    DAY,
    ENSURE,
    ROTATE,
    age_credentials,
    crash,
    live_ids,
    mints,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)

PLANNED = ("planned", "created")
LIST_KEY = "GET /api/v1/clients/"
BASIC_KEY = "GET /api/v1/auth/jwt/token/basic"
BEFORE_SWITCH = (*PLANNED, "journaled", "verified")
REVOKING = ("revoking", "revoked")
# Reached only with --publish: tests/e2e/test_publish.py kills there.
PUBLISHING = ("publishing", "published")
AFTER_SWITCH = ("switched", *REVOKING)


def test_the_crash_points_cover_every_step_in_order() -> None:
    """The hook names each step of create → journal → verify → switch → revoke."""
    assert (*BEFORE_SWITCH, "switched", *PUBLISHING, *REVOKING) == CRASH_POINTS


@pytest.mark.parametrize("step", BEFORE_SWITCH + AFTER_SWITCH)
def test_a_rotation_killed_at_any_step_is_finished_by_the_next_run(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    step: str,
) -> None:
    """After SIGKILL the store mints and parses; the next run finishes with one new client
    (on an exclusive account, where a lost answer's client is revoked)."""
    config = clean_environment["config"]
    old = run_json(runner, ["credentials", "create", "--exclusive-account"])
    old_secret = stored(config)["client_secret"]
    age_credentials(config, 40 * DAY)
    service.reset()

    crash(*ROTATE, "--grace", "0", step=step)
    record_stored_secrets(config)
    current = stored(config)
    state = rotation_state(config)
    assert mints(service, current), "a consumer must find a working credential at any instant"
    # The replaced credentials stay readable in the journal from before the create on, and
    # as the previous credentials once the journal is closed (a DELETE is journaled).
    journaled = state["rotation"]["old"] if step not in REVOKING else state["previous"]
    assert journaled["client_secret"] == old_secret
    if step in REVOKING:
        assert state["rotation"] is None
        assert state["revoking"] == [old["client_id"]]
    elif step in BEFORE_SWITCH:
        assert current["client_id"] == old["client_id"]
        assert state["rotation"]["phase"] == ("planned" if step in PLANNED else "created")
    else:
        assert current["client_id"] == state["rotation"]["pending"]["client_id"]
    if step not in (*PLANNED, *REVOKING):
        assert state["rotation"]["pending"]["client_id"] in live_ids(service)
    if step == "revoked":
        assert old["client_id"] not in live_ids(service)

    resumed = run_json(runner, [*ROTATE, "--grace", "0"])
    new = stored(config)
    # Every step resumes: the change itself, or the revocation it had journaled.
    assert resumed["action"] == ("revoked" if step in REVOKING else "rotated")
    assert resumed["resumed"] is True
    if step not in REVOKING:
        assert resumed["previous_client_id"] == old["client_id"]
    assert old["client_id"] in resumed["revoked_client_ids"]
    assert resumed["client_id"] == new["client_id"] != old["client_id"]
    if step == "created":
        # The answer (and its secret) died with the process: that client is an orphan.
        (orphan,) = resumed["orphaned_client_ids"]
        assert orphan in resumed["revoked_client_ids"]
        assert service.count(CREATE_ROUTE) == 2
    else:
        assert resumed["orphaned_client_ids"] == []
        assert service.count(CREATE_ROUTE) == 1
    assert live_ids(service) == {new["client_id"]}
    assert mints(service, new)
    final = rotation_state(config)
    assert final["rotation"] is None
    assert final["previous"] is None

    service.reset()
    again = run_json(runner, [*ROTATE, "--grace", "0"])
    assert again["action"] == "unchanged"
    if step in PLANNED:
        # The killed create's client may still show up: it is looked for, nothing changed.
        assert set(service.counters()) == {LIST_KEY, BASIC_KEY}
    else:
        assert service.counters() == {}


def test_an_ensure_killed_after_journaling_is_finished_without_a_second_create(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """The first create of an empty profile is journaled too; the next ensure switches it in."""
    config = clean_environment["config"]
    crash(*ENSURE, step="journaled")
    record_stored_secrets(config)
    assert not (config / "app_credentials.json").exists()
    pending = rotation_state(config)["rotation"]["pending"]
    out = run_json(runner, ENSURE)
    assert out["action"] == "created"
    assert out["resumed"] is True
    assert out["client_id"] == pending["client_id"] == stored(config)["client_id"]
    assert service.count(CREATE_ROUTE) == 1
    assert live_ids(service) == {pending["client_id"]}


def test_a_kill_after_an_unlistable_create_is_reported_as_a_possible_orphan(
    runner: RecordingRunner,
    unmanaged_service: EmulatorHandle,
    clean_environment: dict[str, Path],
    aged_unmanaged: dict[str, Any],
) -> None:
    """Without client listing the lost client cannot be found: the resumed run says so."""
    handle = unmanaged_service
    config = clean_environment["config"]
    old = aged_unmanaged
    crash(*ROTATE, step="created")
    assert stored(config)["client_id"] == old["client_id"]
    result = runner.run(ROTATE)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    record_stored_secrets(config)
    assert out["action"] == "rotated"
    assert any("cannot list" in warning for warning in out["warnings"])
    assert "create_unreconciled" in result.stderr
    assert len(live_ids(handle)) == 3
