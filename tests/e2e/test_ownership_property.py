"""
The ownership rule under random operation sequences (issue 17), against the emulator.

Three profiles in each of two config dirs (two hosts) share one account. Each example runs
a random sequence of create, create --force, rotate, import --force (a profile copying
another's file on the same host), revoke (of any id ever seen, without --force, but
never one the host reported as a possible orphan: its report asks a person to check it), fleet
rotation, each possibly with a lost answer (the create or the DELETE processed and its
answer dropped, or the create never processed) and possibly killed at a random crash
point. Then one convergence run (``rotate --all-profiles``) per config dir. It must hold:

- after every operation, every client some profile stores is live (0 revocations of a
  client some profile stores);
- after convergence, every live client is on some disk: stored, or in a journal as the
  previous client, an unfinished change's, a possible orphan, or one listed for the user.

The library is driven in-process for speed. The kill is a fake crash point: the engine's
crash hook (``_ledger.crash_point``) replaced by one that raises ``Killed`` (a
``BaseException`` nothing catches) at the chosen step, so the run stops dead there, its
locks released as a killed process's would be. ``SPATIAFI_OWNERSHIP_EXAMPLES`` sets the
number of sequences (``make proof`` runs 2,000, proof/_ownership.py).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatiafi_ops import Settings, SpatiafiOpsError, UserLogin, import_credentials
from spatiafi_ops._http import RetryPolicy
from spatiafi_ops.credentials._credfile import read_private_json
from spatiafi_ops.credentials._store import ProfilePaths
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, Fault
from spatiafi_ops.rotation import (
    CRASH_POINTS,
    Policy,
    RunContext,
    _ledger,
    create_credentials,
    revoke_credentials,
    rotate_all_profiles,
    rotate_credentials,
)
from spatiafi_ops.rotation._context import UserTokens
from spatiafi_ops.rotation._state import RotationState

EXAMPLES = int(os.environ.get("SPATIAFI_OWNERSHIP_EXAMPLES", "60"))
HOSTS = ("host-a", "host-b")
PROFILES = ("default", "p1", "p2")
FAST = RetryPolicy(initial=0.01, maximum=0.02, jitter=0.0)
NEVER = 3650 * 86400.0  # a max age no client reaches: the convergence run rotates nothing
LOGIN = UserLogin(DEFAULT_EMAIL, DEFAULT_PASSWORD)
FAULTS = {
    "none": (),
    "create answer lost": (Fault(route="clients", kind="drop", after=True, times=1),),
    "create not processed": (Fault(route="clients", kind="drop", times=1),),
    "delete answer lost": (Fault(route="delete-client", kind="drop", after=True, times=1),),
}


# One user token per emulator, for every sequence.
TOKENS: dict[str, UserTokens] = {}


class Killed(BaseException):
    """
    The run stopped dead at a crash point (nothing in the library catches it).
    """


@contextmanager
def killed_at(kill: str | None) -> Iterator[None]:
    """
    Replace the crash hook with one that raises ``Killed`` at step *kill* (``None``: none).
    """
    original = _ledger.crash_point

    def crash(step: str) -> None:
        if step == kill:
            raise Killed(step)

    _ledger.crash_point = crash
    try:
        yield
    except Killed:
        pass
    finally:
        _ledger.crash_point = original


host = st.sampled_from(HOSTS)
profile = st.sampled_from(PROFILES)
operation = st.one_of(
    st.tuples(st.just("create"), host, profile, st.booleans()),
    st.tuples(st.just("rotate"), host, profile, st.sampled_from([0.0, 3600.0])),
    st.tuples(st.just("import"), host, profile, profile),
    st.tuples(st.just("revoke"), host, profile, st.integers(0, 20)),
    st.tuples(st.just("fleet"), host, st.just(""), st.just(0)),
)
step = st.tuples(
    operation,
    st.sampled_from(sorted(FAULTS)),
    st.one_of(st.none(), st.sampled_from(CRASH_POINTS)),
)


class World:
    """
    Two hosts' config dirs on one emulator account, and every client id seen so far.
    """

    def __init__(self, root: Path, service: EmulatorHandle, tokens: UserTokens) -> None:
        self.root = root
        self.service = service
        self.tokens = tokens
        self.seen: list[str] = []

    def settings(self, host_name: str, profile_name: str = "default") -> Settings:
        return Settings(
            auth_url=self.service.url,
            profile=profile_name,
            config_dir=self.root / host_name / "config",
            cache_dir=self.root / host_name / "cache",
            deadline=10.0,
            timeout=5.0,
        )

    def context(self, host_name: str, profile_name: str = "default") -> RunContext:
        """
        Return a run's own context (as a new process has), with the shared user token: the
        emulator's password check is slow by design, and a login is not what is tested.
        """
        ctx = RunContext(self.settings(host_name, profile_name), LOGIN)
        ctx.tokens = self.tokens
        return ctx

    def paths(self, host_name: str, profile_name: str) -> ProfilePaths:
        return ProfilePaths.of(self.root / host_name / "config", profile_name)

    def stored(self) -> dict[str, str]:
        """
        Return client id → where it is stored, for every profile of both hosts.
        """
        found = {}
        for host_name in HOSTS:
            for profile_name in PROFILES:
                path = self.paths(host_name, profile_name).credentials
                if path.is_file():
                    client_id = read_private_json(path)["client_id"]
                    found[client_id] = f"{host_name}/{profile_name}"
        return found

    def on_disk(self) -> set[str]:
        """
        Return every client a disk holds: stored, or journaled where a person is told.
        """
        ids = set(self.stored())
        for host_name in HOSTS:
            for profile_name in PROFILES:
                state = RotationState.load(self.paths(host_name, profile_name))
                ids |= set(state.manual_revoke_client_ids) | set(state.orphaned_client_ids)
                ids |= set(state.revoking)
                if state.previous is not None:
                    ids.add(state.previous.credentials.client_id)
                if state.rotation is not None and state.rotation.pending is not None:
                    ids.add(state.rotation.pending.client_id)
        return ids

    def live(self) -> set[str]:
        ids = {client["client_id"] for client in self.service.clients()}
        self.seen += sorted(ids - set(self.seen))
        return ids

    def run(self, op: tuple[Any, ...]) -> None:
        kind, host_name, profile_name, arg = op
        ctx = self.context(host_name, profile_name)
        if kind == "create":
            policy = Policy(force=arg, revoke_old=True, grace=0.0, retry=FAST)
            create_credentials(ctx, policy)
        elif kind == "rotate":
            rotate_credentials(ctx, Policy(max_age=0.0, grace=arg, retry=FAST))
        elif kind == "import":
            source = self.paths(host_name, arg).credentials
            if source.is_file() and arg != profile_name:
                import_credentials(
                    self.settings(host_name, profile_name),
                    source,
                    created_at=time.time(),
                    force=True,
                )
        elif kind == "revoke" and self.seen:
            target = self.seen[arg % len(self.seen)]
            reported = RotationState.load(self.paths(host_name, profile_name)).orphaned_client_ids
            if target not in reported:  # a person checks a possible orphan before revoking
                revoke_credentials(ctx, target, Policy(retry=FAST))
        elif kind == "fleet":
            rotate_all_profiles(ctx, Policy(max_age=0.0, grace=0.0, retry=FAST), concurrency=2)


def check_sequence(world: World, steps: list[tuple[Any, ...]]) -> None:
    for op, fault, kill in steps:
        world.live()
        world.service.set_faults(*FAULTS[fault])
        # Refused, lost answers, rejected revocations: each an allowed outcome.
        with killed_at(kill), contextlib.suppress(SpatiafiOpsError):
            world.run(op)
        world.service.clear_faults()
        live = world.live()
        cut = {client: where for client, where in world.stored().items() if client not in live}
        assert not cut, f"a stored client was revoked after {op} ({fault}, kill {kill}): {cut}"
    for host_name in HOSTS:  # one convergence run per config dir, nothing due
        policy = Policy(max_age=NEVER, grace=0.0, retry=FAST)
        rotate_all_profiles(world.context(host_name), policy, concurrency=2)
    live = world.live()
    stranded = live - world.on_disk()
    assert not stranded, f"live clients that no disk holds after convergence: {stranded}"
    assert set(world.stored()) <= live


@pytest.mark.posix("the fake crash point stops a run that holds flock locks")
@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=7))
def test_random_sequences_never_revoke_a_stored_client_nor_strand_one(
    spatiafi_emulator: EmulatorHandle, steps: list[tuple[Any, ...]]
) -> None:
    spatiafi_emulator.reset(clients=True)
    tokens = TOKENS.setdefault(spatiafi_emulator.url, UserTokens(LOGIN))
    with tempfile.TemporaryDirectory(prefix="ownership-") as tmp:
        check_sequence(World(Path(tmp), spatiafi_emulator, tokens), steps)
