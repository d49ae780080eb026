"""
The shipped pytest plugin, as a user's test suite would load it (entry point, fresh run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_SUITE = """
import requests

STATE = {}


def test_first(spatiafi_emulator):
    creds = spatiafi_emulator.create_client()
    session = requests.Session()
    session.trust_env = False
    auth = ("null@example.com", "example_password123")
    response = session.get(spatiafi_emulator.basic_url, auth=auth)
    assert response.status_code == 200
    spatiafi_emulator.set_faults({"route": "token", "status": 503})
    STATE["url"] = spatiafi_emulator.url
    assert len(spatiafi_emulator.clients()) == 1


def test_second_sees_a_reset_emulator(spatiafi_emulator, spatiafi_emulator_session):
    assert spatiafi_emulator.url == STATE["url"] == spatiafi_emulator_session.url
    assert spatiafi_emulator.clients() == []
    assert spatiafi_emulator.counters() == {}
    assert spatiafi_emulator.faults()["faults"] == []


def test_factory(spatiafi_emulator_factory):
    other = spatiafi_emulator_factory(client_management=False)
    assert other.url != STATE["url"]
    assert other.info()["client_management"] is False


def test_readme_lines_mint_with_the_created_credentials(spatiafi_emulator):
    import spatiafi_ops

    creds = spatiafi_emulator.create_client()
    settings = spatiafi_ops.Settings(auth_url=spatiafi_emulator.url)
    assert spatiafi_ops.mint_token(creds, settings).ttl() > 600
    assert creds.auth_url == spatiafi_emulator.url


def test_the_fixture_is_strict_and_the_factory_can_be_lenient(
    spatiafi_emulator, spatiafi_emulator_factory
):
    session = requests.Session()
    session.trust_env = False
    for handle, expected in (
        (spatiafi_emulator, 401),
        (spatiafi_emulator_factory(lenient_client_auth=True), 200),
    ):
        creds = handle.create_client()
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        assert session.post(handle.token_url, data=form).status_code == expected
"""


def test_fixtures_work_in_a_users_suite(tmp_path: Path) -> None:
    """
    A fresh pytest run gets spatiafi_emulator (strict, reset per test, one server per
    session) and spatiafi_emulator_factory from the entry point alone; create_client()
    feeds mint_token() directly.
    """
    (tmp_path / "test_user_suite.py").write_text(USER_SUITE)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
