"""
Fault injection: statuses, dropped and reset connections, latency, seeds and counts.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorControlError, EmulatorHandle, Fault

from .emulator_testlib import assertion, mint


def _post_many(
    http: requests.Session, handle: EmulatorHandle, creds: AppCredentials, n: int
) -> list[int]:
    statuses = []
    for _ in range(n):
        response = mint(http, handle.token_url, assertion(creds, handle.token_url))
        statuses.append(response.status_code)
    return statuses


def test_status_faults_have_realistic_bodies(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    500 plain text (Starlette), 502 nginx HTML, 503 JSON, 429 JSON with Retry-After.
    """
    cases: list[tuple[int, str, str]] = [
        (500, "text/plain; charset=utf-8", "Internal Server Error"),
        (502, "text/html", "<h1>502 Bad Gateway</h1>"),
        (503, "application/json", '{"detail":"Service Unavailable"}'),
        (429, "application/json", '{"detail":"Too Many Requests"}'),
    ]
    for status, content_type, text in cases:
        emulator.set_faults(Fault(route="token", status=status))
        response = http.post(emulator.token_url, timeout=10)
        assert response.status_code == status
        assert response.headers["content-type"] == content_type
        assert text in response.text
        assert ("retry-after" in response.headers) == (status == 429)
    assert emulator.count("token") == len(cases)


def test_retry_after_is_configurable(emulator: EmulatorHandle, http: requests.Session) -> None:
    """
    A 429 or 503 carries the given Retry-After.
    """
    emulator.set_faults(Fault(route="basic", status=503, retry_after=7))
    response = http.get(emulator.basic_url, timeout=10)
    assert (response.status_code, response.headers["retry-after"]) == (503, "7")


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_dropped_and_reset_connections_raise_connection_error(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials, kind: str
) -> None:
    """
    drop closes without a response, reset sends half a status line then a TCP RST.
    """
    emulator.set_faults(Fault(route="token", kind=kind, times=1))  # type: ignore[arg-type]
    with pytest.raises(requests.ConnectionError):
        mint(http, emulator.token_url, assertion(creds, emulator.token_url))
    # The session recovers on a new connection; the fault was used up.
    assert mint(http, emulator.token_url, assertion(creds, emulator.token_url)).status_code == 200
    assert emulator.count("token") == 2


def test_truncated_response_fails_in_the_client(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    truncate sends headers and part of the body, then a RST: never a usable response.
    """
    emulator.set_faults(Fault(route="token", kind="truncate"))
    with pytest.raises(requests.RequestException):
        mint(http, emulator.token_url, assertion(creds, emulator.token_url))


def test_fail_next_n_requests_then_recover(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    times=3 fails exactly the next three matching requests.
    """
    emulator.set_faults(Fault(route="token", status=503, times=3))
    assert _post_many(http, emulator, creds, 5) == [503, 503, 503, 200, 200]
    assert emulator.faults()["faults"][0]["remaining"] == 0
    assert emulator.count("token") == 5


def test_faults_are_per_route(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A fault on the token route leaves the Basic route alone; '*' hits every route.
    """
    emulator.set_faults(Fault(route="POST /api/v1/auth/jwt/token", status=500))
    assert http.get(emulator.basic_url, auth=("null@example.com", "example_password123")).ok
    assert _post_many(http, emulator, creds, 1) == [500]
    emulator.set_faults(Fault(status=502))
    assert http.get(emulator.basic_url, timeout=10).status_code == 502
    assert http.get(emulator.url + "/nowhere", timeout=10).status_code == 502


def test_probability_frequency_and_reproducibility(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    p=0.3 over 400 requests fails about 120 times (binomial sd ≈ 9.2), identically per seed.
    """
    emulator.set_faults(Fault(route="token", status=503, probability=0.3), seed=1234)
    first = _post_many(http, emulator, creds, 400)
    failures = first.count(503)
    assert 120 - 46 <= failures <= 120 + 46  # ±5 sd: never flaky, still catches p=0 or p=1
    assert set(first) == {200, 503}
    assert emulator.count("token") == 400

    emulator.set_faults(Fault(route="token", status=503, probability=0.3), seed=1234)
    assert _post_many(http, emulator, creds, 400) == first
    emulator.set_faults(Fault(route="token", status=503, probability=0.3), seed=4321)
    assert _post_many(http, emulator, creds, 400) != first


def test_seed_sequence_does_not_depend_on_other_routes(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Each rule has its own random stream: traffic elsewhere does not shift it.
    """
    rule = Fault(route="token", status=503, probability=0.5)
    emulator.set_faults(rule, seed=99)
    quiet = _post_many(http, emulator, creds, 40)
    emulator.set_faults(rule, Fault(route="basic", status=500, probability=0.5), seed=99)
    noisy = []
    for _ in range(40):
        http.get(emulator.basic_url, timeout=10)
        noisy.extend(_post_many(http, emulator, creds, 1))
    assert noisy == quiet


def test_counters_include_faulted_and_dropped_requests(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Every request that arrived is counted, whatever happened to it.
    """
    emulator.set_faults(
        Fault(route="token", kind="drop", times=1),
        Fault(route="token", status=429, times=1),
    )
    with pytest.raises(requests.ConnectionError):
        _post_many(http, emulator, creds, 1)
    assert _post_many(http, emulator, creds, 2) == [429, 200]
    assert emulator.counters() == {"POST /api/v1/auth/jwt/token": 3}


def test_latency_delays_at_least_the_configured_time(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A latency fault adds its delay, then the request succeeds (only a lower bound checked).
    """
    emulator.set_faults(Fault(route="token", kind="latency", latency=0.2))
    start = time.monotonic()
    assert _post_many(http, emulator, creds, 1) == [200]
    assert time.monotonic() - start >= 0.2
    assert emulator.count("token") == 1


def test_latency_combines_with_a_status_fault(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    Latency adds to other faults instead of replacing them.
    """
    emulator.set_faults(Fault(kind="latency", latency=0.1), Fault(route="basic", status=503))
    start = time.monotonic()
    assert http.get(emulator.basic_url, timeout=10).status_code == 503
    assert time.monotonic() - start >= 0.1


def test_after_fault_applies_the_effect_but_loses_the_response(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    after=True: the client is created, yet the caller sees a 502 or a dropped connection.
    """
    token = http.get(emulator.basic_url, auth=("null@example.com", "example_password123"))
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    emulator.set_faults(Fault(route="clients", status=502, after=True, times=1))
    assert http.post(emulator.clients_url, headers=headers, timeout=10).status_code == 502
    assert len(emulator.clients()) == 1
    emulator.set_faults(Fault(route="clients", kind="drop", after=True, times=1))
    with pytest.raises(requests.ConnectionError):
        http.post(emulator.clients_url, headers=headers, timeout=10)
    assert len(emulator.clients()) == 2


def test_faults_snapshot_and_clear(emulator: EmulatorHandle) -> None:
    """
    GET /_emulator/faults reports canonical routes, the seed and what remains.
    """
    emulator.set_faults({"route": "me", "status": 500, "times": 2}, seed=5)
    snapshot = emulator.faults()
    assert snapshot["seed"] == 5
    assert snapshot["faults"] == [
        {
            "route": "GET /api/v1/users/me",
            "kind": "status",
            "status": 500,
            "probability": 1.0,
            "times": 2,
            "retry_after": None,
            "latency": 0.0,
            "after": False,
            "remaining": 2,
        }
    ]
    emulator.clear_faults()
    assert emulator.faults()["faults"] == []


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"status": 999},
        {"probability": 1.5},
        {"times": 0},
        {"latency": -1},
        {"route": "nowhere"},
        {"colour": "red"},
        {"status": "503"},
        {"after": 1},
    ],
)
def test_invalid_faults_are_refused_with_400(
    emulator: EmulatorHandle, fault: dict[str, Any]
) -> None:
    """
    The control API validates fault rules and says what is wrong.
    """
    with pytest.raises(EmulatorControlError) as caught:
        emulator._call("PUT", "/faults", {"faults": [fault]})
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("503", Fault(status=503)),
        ("route=token,status=503,probability=0.3", Fault("token", status=503, probability=0.3)),
        ("route=token,drop,times=2", Fault("token", kind="drop", times=2)),
        ("route=clients,status=502,after", Fault("clients", status=502, after=True)),
        ("route=*,latency=0.2,p=0.5", Fault(kind="latency", latency=0.2, probability=0.5)),
        ("429,retry-after=3", Fault(status=429, retry_after=3)),
        ("route=GET /api/v1/users/me,reset", Fault("me", kind="reset")),
    ],
)
def test_fault_parse(spec: str, expected: Fault) -> None:
    """
    The CLI spelling maps onto Fault fields.
    """
    assert Fault.parse(spec) == expected


@pytest.mark.parametrize("spec", ["route=nowhere", "status=abc", "bogus", "p=2", "times=-1"])
def test_fault_parse_rejects_nonsense(spec: str) -> None:
    """
    A bad spec is a ValueError with a message, not a silent default.
    """
    with pytest.raises(ValueError, match=r"\S"):
        Fault.parse(spec)
