"""
Replicas without a shared lock: three rotators, each with its own config dir, rotate one
secret at once while a consumer mints from it; the secret's compare-and-swap is the only
coordination. Threads in one process (the library's verbs), against moto's server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import SpatiafiOpsError
from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.rotation import Policy, RunContext, create_credentials, rotate_credentials
from spatiafi_ops.tokens._consumer import token_from_source
from tests.aws.test_secret_store import LOGIN, labels, live

# make proof runs the same replicas for 50 rounds (proof/_secretstore.py); the suite, 25.
ROUNDS = 25
REPLICAS = 3
# Long enough to cover a consumer's read-then-mint; short enough for many rotations.
GRACE = 1.0


def replica_settings(tmp_path: Path, name: str, store: str, auth_url: str) -> Settings:
    """
    Settings of one replica: its own config and cache dirs (no lock in common).
    """
    home = tmp_path / name
    return Settings(
        auth_url=auth_url,
        config_dir=home / "config",
        cache_dir=home / "cache",
        store=store,
        deadline=30.0,
    )


def run_replicas(rounds: int, replica: Callable[[int], None], consumer: Callable[[], None]) -> None:
    """
    Run REPLICAS threads of *rounds* calls of *replica* while *consumer* loops; re-raise
    the first failure of any of them.
    """
    failures: list[BaseException] = []
    done = threading.Event()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        return run

    def consume() -> None:
        while not done.is_set():
            consumer()

    def rounds_of(i: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(rounds):
                replica(i)

        return run

    threads = [threading.Thread(target=guarded(rounds_of(i))) for i in range(REPLICAS)]
    watcher = threading.Thread(target=guarded(consume))
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    done.set()
    watcher.join(timeout=60)
    if failures:
        raise failures[0]


@pytest.mark.slow
def test_three_replicas_rotate_one_secret_with_no_failed_mint(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
    aws: str,
    secret_name: str,
    reader: Any,
    tmp_path: Path,
) -> None:
    """
    Every run succeeds (a lost swap is "rotated by another replica"), no consumer mint
    fails, and one convergence run leaves exactly the client AWSCURRENT holds.
    """
    service = spatiafi_emulator_factory()
    store = f"aws-secretsmanager:{secret_name}"
    settings = [replica_settings(tmp_path, f"r{i}", store, service.url) for i in range(3)]
    create_credentials(RunContext(settings[0], LOGIN))
    policy = Policy(max_age=0, grace=GRACE)
    actions: list[str] = []
    mints: list[bool] = []
    consumer = Settings(auth_url=service.url, cache_dir=tmp_path / "consumer", store=store)

    def replica(i: int) -> None:
        actions.append(rotate_credentials(RunContext(settings[i], LOGIN), policy).action)

    def consume() -> None:
        time.sleep(0.05)  # a consumer, not a load test: leave the CPUs to the replicas
        try:
            token_from_source(consumer, min_ttl=60, use_cache=False)
        except SpatiafiOpsError:
            mints.append(False)
        else:
            mints.append(True)

    run_replicas(ROUNDS, replica, consume)

    assert len(actions) == REPLICAS * ROUNDS
    assert actions.count("rotated") >= 5, actions
    assert mints
    assert all(mints), f"{mints.count(False)} of {len(mints)} mints failed"
    time.sleep(GRACE)
    converged = rotate_credentials(RunContext(settings[0], LOGIN), Policy())
    held = labels(reader, secret_name)
    assert live(service) == {held["AWSCURRENT"]} == {converged.client_id}
