"""
The small Python API for applications: load_credentials, mint_token, get_session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import spatiafi_ops
from spatiafi_ops import AppCredentials, RetryPolicy, Settings
from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, record_output
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


def _settings(service: EmulatorHandle, dirs: dict[str, Path]) -> Settings:
    return Settings(auth_url=service.url, cache_dir=dirs["cache"], config_dir=dirs["config"])


def _credentials(service: EmulatorHandle) -> AppCredentials:
    client = service.create_client()
    return AppCredentials(client_id=client.client_id, client_secret=client.client_secret)


def test_get_session_mints_and_renews_its_own_token(
    service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A session's renewal takes the cached token while it lives, and mints once it is spent."""
    credentials = _credentials(service)
    settings = _settings(service, clean_environment)
    session = spatiafi_ops.get_session(credentials, settings, policy=FAST)
    assert service.count("token") == 1
    me = session.get(service.url + "/api/v1/users/me", timeout=5)
    assert me.status_code == 200
    assert service.count("token") == 1
    first = session.token["access_token"]
    session.token["expires_at"] = int(time.time()) - 1  # authlib checks int expiries only
    assert session.get(service.url + "/api/v1/users/me", timeout=5).status_code == 200
    assert service.count("token") == 1  # the cache's copy still had its life ahead
    assert session.token["access_token"] == first
    (cache_file,) = clean_environment["cache"].glob("token-*.json")
    spent = json.loads(cache_file.read_text()) | {"expires_at": time.time() + 30}
    cache_file.write_text(json.dumps(spent))
    session.token["expires_at"] = int(time.time()) + 30  # inside the 60 s leeway
    assert session.get(service.url + "/api/v1/users/me", timeout=5).status_code == 200
    assert service.count("token") == 2
    assert session.token["access_token"] != first
    assert json.loads(cache_file.read_text())["access_token"] == session.token["access_token"]


def test_get_session_retries_its_token_requests(
    service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Minting goes through the same retry policy as the CLI, the caller's policy honoured."""
    credentials = _credentials(service)
    service.set_faults(Fault(route="token", status=503, times=1))
    spatiafi_ops.get_session(credentials, _settings(service, clean_environment), policy=FAST)
    assert service.count("token") == 2


def test_get_session_shares_the_cli_token_cache(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """A token `spatiafi-ops token` minted is the one a session starts with: no second mint."""
    create_credentials(runner)
    printed = runner.run(["token"])
    assert printed.exit_code == 0, printed.stderr
    session = spatiafi_ops.get_session(settings=Settings.from_env())
    assert session.token["access_token"] == printed.stdout.strip()
    assert service.count("token") == 1


def test_two_processes_in_a_row_mint_once(service: EmulatorHandle) -> None:
    """Consecutive programs that call get_session() share one token through the cache."""
    credentials = _credentials(service)
    program = (
        "import os, spatiafi_ops\n"
        "session = spatiafi_ops.get_session()\n"
        "url = os.environ['SPATIAFI_AUTH_URL'] + '/api/v1/users/me'\n"
        "print(session.get(url, timeout=5).status_code)\n"
    )
    env = {
        **os.environ,
        "SPATIAFI_CLIENT_ID": credentials.client_id,
        "SPATIAFI_CLIENT_SECRET": credentials.client_secret,
    }
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", program],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        record_output(proc.stderr)
        assert proc.returncode == 0, proc.stderr
        # The last line: library silence is another test's subject (issue 11).
        assert proc.stdout.splitlines()[-1] == "200"
    assert service.count("token") == 1


def test_get_session_without_the_cache_mints_each_time(
    service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """use_cache=False: a fresh token per session, and nothing written to the cache."""
    credentials = _credentials(service)
    settings = _settings(service, clean_environment)
    for _ in range(2):
        spatiafi_ops.get_session(credentials, settings, policy=FAST, use_cache=False)
    assert service.count("token") == 2
    assert not list(clean_environment["cache"].glob("token-*.json"))


def test_get_session_reads_the_environment(
    service: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no arguments: SPATIAFI_AUTH_URL and SPATIAFI_CLIENT_ID/SECRET, like py-spatiafi."""
    client = service.create_client()
    monkeypatch.setenv("SPATIAFI_CLIENT_ID", client.client_id)
    monkeypatch.setenv("SPATIAFI_CLIENT_SECRET", client.client_secret)
    session = spatiafi_ops.get_session()
    assert session.token["token_type"] == "bearer"
