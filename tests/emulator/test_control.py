"""
The /_emulator/ control API: marked as not the real service; counters, users, clients, reset.
"""

from __future__ import annotations

import json

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorControlError, EmulatorHandle, Fault

from .emulator_testlib import JSON, assertion, basic, mint, user_token

MARKER = "not-part-of-the-real-service"


def test_control_responses_are_marked_and_service_responses_are_not(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Every /_emulator/ answer (even 404) carries X-Emulator; service answers never do.
    """
    for path in ("", "/counters", "/faults", "/clients", "/users", "/clock", "/nope"):
        response = http.get(emulator.control_url + path, timeout=10)
        assert response.headers["x-emulator"] == MARKER, path
    info = http.get(emulator.control_url, timeout=10).json()
    assert "not part of the real" in info["note"]
    assert info["token_url"] == emulator.token_url
    assert "x-emulator" not in http.get(emulator.basic_url, timeout=10).headers
    assert "x-emulator" not in http.get(emulator.url + "/nope", timeout=10).headers


def test_control_requests_are_not_counted_or_faulted(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Faults and counters concern the service routes only.
    """
    emulator.set_faults(Fault(status=503))
    assert http.get(emulator.control_url + "/counters", timeout=10).status_code == 200
    assert emulator.counters() == {}


def test_counters_are_keyed_by_method_and_route(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Keys look like "POST /api/v1/auth/jwt/token"; unknown paths are counted too.
    """
    mint(http, emulator.token_url, assertion(creds, emulator.token_url))
    mint(http, emulator.token_url, "garbage")
    http.get(emulator.basic_url, timeout=10)
    http.get(emulator.url + "/elsewhere?q=1", timeout=10)
    assert emulator.counters() == {
        "GET /api/v1/auth/jwt/token/basic": 1,
        "GET /elsewhere": 1,
        "POST /api/v1/auth/jwt/token": 2,
    }
    assert emulator.count("token") == 2
    assert emulator.count("list-clients") == 0


def test_reset_clears_counters_faults_replay_cache_and_clock(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    After reset an assertion seen before is fresh again, and clients survive by default.
    """
    token = assertion(creds, emulator.token_url)
    assert mint(http, emulator.token_url, token).status_code == 200
    emulator.set_faults(Fault(route="basic", status=500))
    emulator.set_clock_offset(100)
    emulator.reset()
    assert emulator.counters() == {}
    assert emulator.faults()["faults"] == []
    assert emulator.clock_offset() == 0
    assert mint(http, emulator.token_url, token).status_code == 200
    assert [c["client_id"] for c in emulator.clients()] == [creds.client_id]


def test_reset_with_clients_and_users(emulator: EmulatorHandle) -> None:
    """
    clients=True deletes every client; users=True restores the seeded users.
    """
    emulator.create_user("extra@example.com", "pw")
    emulator.create_client("extra@example.com")
    seeded_id = emulator.create_client().user_id
    emulator.reset(users=True)
    assert [u["email"] for u in emulator.users()] == ["null@example.com"]
    assert [c["user_id"] for c in emulator.clients()] == [seeded_id]
    emulator.reset(clients=True)
    assert emulator.clients() == []
    assert emulator.users()[0]["id"] == seeded_id  # seeded ids are stable


def test_users_can_be_added_and_replaced_keeping_their_id(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    POST /_emulator/users adds (201) or replaces by email (200, same id); no passwords shown.
    """
    created = emulator.create_user("a@example.com", "pw-a@example.com", roles=("all-datasets",))
    assert created["roles"] == ["all-datasets"]
    token = user_token(http, emulator.url, "a@example.com")
    response = http.post(
        emulator.control_url + "/users",
        json={"email": "a@example.com", "password": "new", "is_verified": True},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["is_verified"] is True
    assert "password" not in json.dumps(emulator.users())
    login = http.get(emulator.basic_url, headers={"Authorization": basic("a@example.com", "new")})
    assert login.status_code == 200
    me = http.get(emulator.url + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "a@example.com"


def test_create_client_directly_and_list_without_secrets(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    POST /_emulator/clients returns usable credentials; GET never shows a secret.
    """
    creds = emulator.create_client()
    assert isinstance(creds, AppCredentials)
    assert (creds.auth_url, creds.created_at) == (emulator.url, None)
    assert creds.user_id == emulator.users()[0]["id"]
    assert creds.client_secret not in repr(creds)
    assert mint(http, emulator.token_url, assertion(creds, emulator.token_url)).status_code == 200
    listed = http.get(emulator.control_url + "/clients", timeout=10)
    assert set(listed.json()[0]) == {"client_id", "user_id", "created_at"}
    assert creds.client_secret not in listed.text
    by_id = emulator.create_client(user_id=creds.user_id)
    assert by_id.user_id == creds.user_id
    with pytest.raises(EmulatorControlError) as caught:
        emulator.create_client("ghost@example.com")
    assert caught.value.status == 404


def test_delete_client_through_control_api(emulator: EmulatorHandle) -> None:
    """
    Revocation simulation works even when the service has no delete route.
    """
    creds = emulator.create_client()
    assert emulator.delete_client(creds.client_id) is True
    assert emulator.delete_client(creds.client_id) is False


def test_clock_offset_round_trips(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    PUT /_emulator/clock moves the emulated time, also in the Date header.
    """
    emulator.set_clock_offset(-3600.5)
    assert emulator.clock_offset() == -3600.5
    clock = http.get(emulator.control_url + "/clock", timeout=10).json()
    assert set(clock) == {"offset", "now"}
    date = http.get(emulator.basic_url, timeout=10).headers["date"]
    from email.utils import parsedate_to_datetime

    assert abs(parsedate_to_datetime(date).timestamp() - clock["now"]) < 60


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/clock", b"{}"),
        ("PUT", "/clock", b'{"offset": "1"}'),
        ("PUT", "/faults", b"not json"),
        ("PUT", "/faults", b"[]"),
        ("PUT", "/faults", b'{"faults": {}}'),
        ("PUT", "/faults", b'{"seed": "x"}'),
        ("POST", "/users", b'{"email": "x@example.com"}'),
        ("POST", "/users", b'{"email": "x@example.com", "password": "p", "roles": "r"}'),
        ("POST", "/reset", b'{"clients": "yes"}'),
        ("POST", "/clients", b'{"email": 5}'),
    ],
)
def test_bad_control_bodies_are_400(
    emulator: EmulatorHandle, http: requests.Session, method: str, path: str, body: bytes
) -> None:
    """
    The control API validates its input.
    """
    response = http.request(
        method, emulator.control_url + path, data=body, headers=JSON, timeout=10
    )
    assert response.status_code == 400
    assert "detail" in response.json()
