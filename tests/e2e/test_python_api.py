"""
The small Python API for applications: load_credentials, mint_token, get_session.
"""

from __future__ import annotations

import time

import pytest

import spatiafi_ops
from spatiafi_ops import AppCredentials, RetryPolicy, Settings
from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner
from tests.e2e.conftest import create_credentials

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)


def test_load_credentials_reads_what_the_cli_stored(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """The stored profile is what applications load (SPATIAFI_CONFIG_DIR honoured)."""
    created = create_credentials(runner)
    loaded = spatiafi_ops.load_credentials()
    assert loaded.client_id == created["client_id"]
    assert loaded.client_secret not in repr(loaded)
    assert "client_secret=***" in repr(loaded)


def test_get_session_mints_and_renews_its_own_token(service: EmulatorHandle) -> None:
    """An expired session token is re-minted before the next API request."""
    client = service.create_client()
    credentials = AppCredentials(client_id=client.client_id, client_secret=client.client_secret)
    session = spatiafi_ops.get_session(credentials, Settings(auth_url=service.url), policy=FAST)
    assert service.count("token") == 1
    me = session.get(service.url + "/api/v1/users/me", timeout=5)
    assert me.status_code == 200
    assert service.count("token") == 1
    session.token["expires_at"] = int(time.time()) - 1  # authlib checks int expiries only
    again = session.get(service.url + "/api/v1/users/me", timeout=5)
    assert again.status_code == 200
    assert service.count("token") == 2


def test_get_session_retries_its_token_requests(service: EmulatorHandle) -> None:
    """Renewal goes through the same retry policy as the CLI."""
    client = service.create_client()
    credentials = AppCredentials(client_id=client.client_id, client_secret=client.client_secret)
    service.set_faults(Fault(route="token", status=503, times=1))
    spatiafi_ops.get_session(credentials, Settings(auth_url=service.url), policy=FAST)
    assert service.count("token") == 2


def test_get_session_reads_the_environment(
    service: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no arguments: SPATIAFI_AUTH_URL and SPATIAFI_CLIENT_ID/SECRET, like py-spatiafi."""
    client = service.create_client()
    monkeypatch.setenv("SPATIAFI_CLIENT_ID", client.client_id)
    monkeypatch.setenv("SPATIAFI_CLIENT_SECRET", client.client_secret)
    session = spatiafi_ops.get_session()
    assert session.token["token_type"] == "bearer"
