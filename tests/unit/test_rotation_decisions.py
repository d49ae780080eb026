"""
The rotation engine's decisions, table by table: the journal's states on disk, what is due,
the dry-run plan, which listed clients are orphans, and what a policy accepts.

No sockets: each decision is a function of local state (the end-to-end and SIGKILL tests
in tests/e2e drive the same code against the emulator).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops import Settings, UsageError
from spatiafi_ops._api import ClientInfo
from spatiafi_ops._errors import CredentialFileError
from spatiafi_ops._models import AppCredentials, format_timestamp
from spatiafi_ops.credentials._credfile import credentials_to_json
from spatiafi_ops.credentials._store import ProfilePaths, Store
from spatiafi_ops.rotation import Policy
from spatiafi_ops.rotation._plan import plan_ensure, plan_rotation, rotation_due
from spatiafi_ops.rotation._service import ORPHAN_CLOCK_SLACK, orphan_candidates
from spatiafi_ops.rotation._state import Journal, Previous, RotationState

DAY = 86400.0
OLD_ID = "00000000-0000-4000-8000-000000000001"
NEW_ID = "00000000-0000-4000-8000-000000000002"
OTHER_ID = "00000000-0000-4000-8000-000000000003"


def creds(client_id: str = OLD_ID, *, age: float | None = 0.0) -> AppCredentials:
    created = None if age is None else time.time() - age
    return AppCredentials(client_id, "s" * 43, "user-1", created)


def write_state(directory: Path, data: dict[str, Any]) -> ProfilePaths:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = ProfilePaths.of(directory, "default")
    paths.state.write_text(json.dumps(data))
    paths.state.chmod(0o600)
    return paths


def journal_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rotation_id": "r-1",
        "kind": "rotate",
        "phase": "planned",
        "started_at": format_timestamp(time.time()),
        "old": credentials_to_json(creds()),
        "pending": None,
    }
    return {**data, **changes}


# the journal on disk


@pytest.mark.parametrize(
    ("version", "rotation", "kind", "phase"),
    [
        (2, journal_json(), "rotate", "planned"),
        (2, journal_json(kind="create", old=None), "create", "planned"),
        (
            2,
            journal_json(
                kind="replace", phase="created", pending=credentials_to_json(creds(NEW_ID))
            ),
            "replace",
            "created",
        ),
        # Version 1 (the first release) journaled only ensure's replacements as "replace".
        (1, journal_json(kind="replace"), "repair", "planned"),
        (1, journal_json(kind="rotate"), "rotate", "planned"),
    ],
)
def test_journals_of_both_versions_are_read(
    tmp_path: Path, version: int, rotation: dict[str, Any], kind: str, phase: str
) -> None:
    """A state file of either version yields the journal it records."""
    paths = write_state(tmp_path, {"version": version, "rotation": rotation, "previous": None})
    journal = RotationState.load(paths).rotation
    assert journal is not None
    assert (journal.kind, journal.phase) == (kind, phase)


@pytest.mark.parametrize(
    "data",
    [
        {"version": 3, "rotation": None, "previous": None},
        {"version": 2, "rotation": journal_json(kind="explode"), "previous": None},
        {"version": 2, "rotation": journal_json(phase="created"), "previous": None},
        {"version": 2, "rotation": journal_json(started_at="yesterday"), "previous": None},
        {"version": 2, "rotation": journal_json(create_attempts="x"), "previous": None},
        {"version": 2, "rotation": None, "previous": None, "revoking": ["not-an-id"]},
        {"version": 2, "rotation": None, "previous": None, "created_client_ids": "x"},
        [],
    ],
)
def test_a_corrupt_state_is_refused_and_left_untouched(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    """A state the engine cannot trust is exit 5, never half-read, never rewritten."""
    paths = write_state(tmp_path, data)
    before = paths.state.read_bytes()
    with pytest.raises(CredentialFileError, match="not a valid rotation state"):
        RotationState.load(paths)
    assert paths.state.read_bytes() == before


def test_a_state_round_trips_through_its_file(tmp_path: Path) -> None:
    """What is saved is what is loaded: journal, previous, revocations, history."""
    paths = write_state(tmp_path, {"version": 2, "rotation": None, "previous": None})
    state = RotationState(
        rotation=Journal("r-2", "replace", "created", time.time(), creds(), True, 60.0),
        previous=Previous(creds(OTHER_ID), "r-1", time.time() + 60),
        revoking=[OTHER_ID],
        created_client_ids=[NEW_ID],
    )
    state.rotation.pending = creds(NEW_ID)  # type: ignore[union-attr]
    state.save(paths)
    loaded = RotationState.load(paths)
    assert loaded.to_json() == state.to_json()
    assert loaded.known_client_ids() == {OLD_ID, NEW_ID, OTHER_ID}


# what is due


@pytest.mark.parametrize(
    ("age", "max_age", "previous_after", "due", "fragment"),
    [
        (40 * DAY, 30 * DAY, None, True, "40d old, max age 30d"),
        (10 * DAY, 30 * DAY, None, False, "younger than 30d"),
        (30 * DAY + 5, 30 * DAY, None, True, "max age 30d"),
        (None, 30 * DAY, None, True, "age is unknown"),
        (40 * DAY, 30 * DAY, 3600.0, False, "awaits revocation"),
        (40 * DAY, 0.0, -10.0, False, "awaits revocation"),
        (10.0, 0.0, None, True, "max age 0s"),
    ],
)
def test_rotation_due(
    age: float | None, max_age: float, previous_after: float | None, due: bool, fragment: str
) -> None:
    """Old enough, and no previous client still waiting for its revocation."""
    previous = (
        Previous(creds(OTHER_ID), "r-0", time.time() + previous_after)
        if previous_after is not None
        else None
    )
    got, reason = rotation_due(creds(age=age), max_age, previous)
    assert got is due
    assert fragment in reason


def test_a_kept_previous_never_holds_a_rotation_back() -> None:
    """--keep-old leaves a previous without a revocation time: not a reason to wait."""
    kept = Previous(creds(OTHER_ID), "r-0", None)
    assert rotation_due(creds(age=40 * DAY), 30 * DAY, kept)[0] is True


# the dry-run plan


def _store_with(tmp_path: Path, current: AppCredentials | None, state: RotationState) -> Store:
    settings = Settings(config_dir=tmp_path / "config", cache_dir=tmp_path / "cache")
    store = Store(settings)
    if current is not None:
        store.write(current)
    store.paths.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    state.save(store.paths)
    return store


@pytest.mark.parametrize(
    ("age", "state", "policy", "steps"),
    [
        (10 * DAY, RotationState(), Policy(), []),
        (
            40 * DAY,
            RotationState(),
            Policy(grace=0.0),
            ["create", "verify", "switch", "invalidate", f"revoke {OLD_ID} now"],
        ),
        (
            40 * DAY,
            RotationState(),
            Policy(revoke_old=False),
            ["create", "verify", "switch", "invalidate", f"keep {OLD_ID}"],
        ),
        (
            40 * DAY,
            RotationState(previous=Previous(creds(OTHER_ID), "r-0", time.time() - 1)),
            Policy(),
            [
                f"revoke the previous client {OTHER_ID}",
                "create",
                "verify",
                "switch",
                "invalidate",
                "after the 1h grace period",
            ],
        ),
        (
            40 * DAY,
            RotationState(previous=Previous(creds(OTHER_ID), "r-0", None)),
            Policy(),
            [
                f"move the kept client {OTHER_ID}",
                "create",
                "verify",
                "switch",
                "invalidate",
                "after the 1h grace period",
            ],
        ),
        (
            40 * DAY,
            RotationState(
                rotation=Journal("r-1", "rotate", "planned", time.time(), creds(), True, 0.0)
            ),
            Policy(),
            ["create", "verify", "switch"],
        ),
    ],
)
def test_the_rotation_plan_from_local_state(
    tmp_path: Path, age: float, state: RotationState, policy: Policy, steps: list[str]
) -> None:
    """--dry-run names each step the run would take, in order, from local state only."""
    store = _store_with(tmp_path, creds(age=age), state)
    before = {p: p.read_bytes() for p in store.paths.directory.rglob("*") if p.is_file()}
    result = plan_rotation(store, store.settings, policy)
    assert result.action == "planned"
    assert len(result.plan) == len(steps)
    for step, fragment in zip(result.plan, steps, strict=True):
        assert fragment in step
    after = {p: p.read_bytes() for p in store.paths.directory.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize(
    ("current", "reason", "last"),
    [
        (None, "the profile has none", "store the new client"),
        (creds(), "the stored credentials were rejected", f"{OLD_ID} is backed up"),
    ],
)
def test_the_ensure_plan(
    tmp_path: Path, current: AppCredentials | None, reason: str, last: str
) -> None:
    """ensure --dry-run: create, verify, then store or switch."""
    store = _store_with(tmp_path, current, RotationState())
    result = plan_ensure(store, store.settings, current, Policy())
    assert result.reason == reason
    assert result.plan[0].startswith("create")
    assert last in result.plan[-1]


# orphans of a lost create answer


@pytest.mark.parametrize(
    ("listed", "known", "offsets", "expected"),
    [
        # An unknown client dated within the window is ours; a known one never is.
        ([(NEW_ID, 0.0), (OLD_ID, 0.0)], {OLD_ID}, [0.0], [NEW_ID]),
        # Undated clients cannot be excluded by time.
        ([(NEW_ID, None)], set(), [0.0], [NEW_ID]),
        # Dated long before the attempt (beyond the clock slack): another's.
        ([(NEW_ID, -ORPHAN_CLOCK_SLACK - 100)], set(), [0.0], []),
        # Within the slack on either side: a skewed service clock still finds ours.
        ([(NEW_ID, -ORPHAN_CLOCK_SLACK + 10)], set(), [0.0], [NEW_ID]),
        ([(NEW_ID, ORPHAN_CLOCK_SLACK + 5)], set(), [0.0], [NEW_ID]),
        ([(NEW_ID, 10 * DAY)], set(), [0.0], []),
        # Several attempts widen the window to their span.
        ([(NEW_ID, 0.0), (OTHER_ID, 900.0)], set(), [0.0, 900.0], [NEW_ID, OTHER_ID]),
        ([], {OLD_ID}, [0.0], []),
    ],
)
def test_orphan_candidates(
    listed: list[tuple[str, float | None]],
    known: set[str],
    offsets: list[float],
    expected: list[str],
) -> None:
    """A candidate is unknown to every profile and dated within the attempts' window."""
    now = time.time()
    clients = [
        ClientInfo(client_id, None if offset is None else now + offset)  # type: ignore[arg-type]
        for client_id, offset in listed
    ]
    assert orphan_candidates(clients, known, [now + o for o in offsets], 10.0) == expected


# policy


@pytest.mark.parametrize(
    "changes",
    [{"max_age": -1.0}, {"grace": float("inf")}, {"grace": float("nan")}, {"wait": 1e12}],
)
def test_a_policy_refuses_values_no_run_could_honour(changes: dict[str, float]) -> None:
    """Negative, infinite or decade-long durations are usage errors (exit 2) at once."""
    with pytest.raises(UsageError):
        Policy(**changes)  # type: ignore[arg-type]


def test_a_policy_is_frozen() -> None:
    """A policy is a value: a run cannot change what the next one may do."""
    policy = Policy()
    with pytest.raises(AttributeError):
        policy.grace = 0.0  # type: ignore[misc]
