"""
pytest fixtures that run the SpatiaFi Auth API emulator; loaded by the ``pytest11`` entry point.

This module is imported into every pytest run of everyone who installs spatiafi-ops, so it
imports nothing but pytest at module level; the emulator loads when a fixture is first used.

Fixtures:
    ``spatiafi_emulator_session``: one emulator for the whole session (127.0.0.1, free port).
    ``spatiafi_emulator``: that emulator, reset before the test (no faults, counters at zero,
    no clients, the seeded users, clock offset 0).
    ``spatiafi_emulator_factory``: ``factory(config=None, **EmulatorConfig fields)`` starts a
    dedicated emulator, stopped after the test: ``factory(lenient_client_auth=True)`` for one
    that also accepts client_secret_basic, client_secret_post and the password grant (the
    others accept only client_secret_jwt), ``factory(clock_offset=-600)`` for one whose
    clock runs ten minutes behind, ``factory(client_management=False)``...

Guide: docs/emulator.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from spatiafi_ops.emulator import EmulatorConfig, EmulatorHandle


@pytest.fixture(name="spatiafi_emulator_session", scope="session")
def _spatiafi_emulator_session() -> Iterator[EmulatorHandle]:
    """
    Yield the handle of an emulator shared by the whole test session.
    """
    from spatiafi_ops.emulator import running  # the emulator loads for the tests that use it

    with running() as handle:
        yield handle


@pytest.fixture(name="spatiafi_emulator")
def _spatiafi_emulator(spatiafi_emulator_session: EmulatorHandle) -> EmulatorHandle:
    """
    Return the session emulator, reset to its startup state through ``/_emulator/reset``.
    """
    spatiafi_emulator_session.reset(clients=True, users=True)
    return spatiafi_emulator_session


@pytest.fixture(name="spatiafi_emulator_factory")
def _spatiafi_emulator_factory() -> Iterator[Callable[..., EmulatorHandle]]:
    """
    Yield a function that starts a dedicated emulator from a config and/or its fields.
    """
    from spatiafi_ops.emulator import Emulator  # the emulator loads for the tests that use it

    started: list[Emulator] = []

    def factory(config: EmulatorConfig | None = None, **overrides: Any) -> EmulatorHandle:
        emulator = Emulator(config, **overrides)
        started.append(emulator)
        return emulator.start()

    try:
        yield factory
    finally:
        for emulator in started:
            emulator.stop()
