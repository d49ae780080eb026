"""
End-to-end fixtures: the shipped emulator fixture, wired into the CLI's environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import RecordingRunner
from tests.e2e.rotation_support import DAY, ENSURE, age_credentials, run_json, stored
from tests.hostile_server import Behaviour, HostileServer


@pytest.fixture(name="service")
def _service(spatiafi_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """
    The emulator, with SPATIAFI_AUTH_URL and the default user's login in the environment.
    """
    monkeypatch.setenv("SPATIAFI_AUTH_URL", spatiafi_emulator.url)
    monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
    monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
    return spatiafi_emulator


@pytest.fixture(name="unmanaged_service")
def _unmanaged_service(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle], monkeypatch: pytest.MonkeyPatch
) -> EmulatorHandle:
    """
    A dedicated emulator without client listing or deletion (as upstream documents it),
    wired into the CLI's environment like ``service``.
    """
    handle = spatiafi_emulator_factory(client_management=False)
    monkeypatch.setenv("SPATIAFI_AUTH_URL", handle.url)
    monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
    monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
    return handle


@pytest.fixture(name="aged")
def _aged(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> dict[str, Any]:
    """
    A profile whose credential is 40 days old, and the emulator's counters at zero.
    """
    run_json(runner, ENSURE)
    age_credentials(clean_environment["config"], 40 * DAY)
    service.reset()
    return stored(clean_environment["config"])


@pytest.fixture(name="aged_unmanaged")
def _aged_unmanaged(
    runner: RecordingRunner, unmanaged_service: EmulatorHandle, clean_environment: dict[str, Path]
) -> dict[str, Any]:
    """
    A profile whose credential is 40 days old, at a service that cannot list or delete
    clients (``unmanaged_service``); the counters keep the ensure's requests.
    """
    old = run_json(runner, ENSURE)
    age_credentials(clean_environment["config"], 40 * DAY)
    return old


def create_credentials(runner: RecordingRunner, *args: str) -> dict[str, Any]:
    """
    Run ``credentials create`` and return its result JSON (asserting success).
    """
    result = runner.run([*args, "credentials", "create"])
    assert result.exit_code == 0, result.stderr
    created: dict[str, Any] = json.loads(result.stdout)
    return created


@pytest.fixture(name="serve")
def _serve() -> Iterator[Callable[..., HostileServer]]:
    """
    Start hostile stdlib servers on 127.0.0.1 (tests/hostile_server.py); closed at the end.
    """
    servers: list[HostileServer] = []

    def start(routes: dict[str, Behaviour], **kwargs: object) -> HostileServer:
        servers.append(HostileServer(routes, **kwargs))  # type: ignore[arg-type]
        return servers[-1]

    yield start
    for server in servers:
        server.close()
