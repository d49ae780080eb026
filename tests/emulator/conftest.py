"""
Fixtures for probing the emulator over real HTTP on 127.0.0.1.

``spatiafi_emulator`` and ``spatiafi_emulator_factory`` come from the shipped pytest plugin
(``spatiafi_ops.pytest_plugin``), which this suite thereby tests as well.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorHandle


@pytest.fixture(name="emulator")
def _emulator(spatiafi_emulator: EmulatorHandle) -> EmulatorHandle:
    return spatiafi_emulator


@pytest.fixture(name="http")
def _http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    with session:
        yield session


@pytest.fixture(name="creds")
def _creds(emulator: EmulatorHandle) -> AppCredentials:
    return emulator.create_client()
