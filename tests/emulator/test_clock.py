"""
The emulated clock: the offset moves every time the server shows or checks, and an assertion
rejected for time says which claim, by how much, and that the clock is the likely cause.

The descriptions are matched against the templates documented in docs/emulator.md.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests

from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import EmulatorConfig, EmulatorHandle, Fault, running

from .doc_examples import guide_text, time_rejections
from .emulator_testlib import JSON, assertion, claims_for, mint, sign, unverified_claims

# A Date header is a whole second and the test takes a moment: far below any offset used.
TOLERANCE = 30
TEN_MINUTES = 600
REJECTIONS = time_rejections(guide_text())


def _date(value: str) -> float:
    return parsedate_to_datetime(value).timestamp()


def _server_time(http: requests.Session, emulator: EmulatorHandle) -> float:
    return _date(http.get(emulator.basic_url, timeout=10).headers["date"])


def _raw_date(emulator: EmulatorHandle, data: bytes) -> tuple[bytes, float]:
    parts = urlsplit(emulator.url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    match = re.search(rb"(?im)^date: (.+?)\r$", rest)
    assert match is not None, reply[:300]
    return status_line, _date(match[1].decode("ascii"))


def _rejection(response: requests.Response, failure: str) -> dict[str, int]:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client"
    match = REJECTIONS[failure].fullmatch(body["error_description"])
    assert match is not None, body["error_description"]
    return {name: int(value) for name, value in match.groupdict().items()}


@pytest.mark.parametrize("offset", [-TEN_MINUTES, TEN_MINUTES])
def test_date_header_of_every_answer_follows_the_offset(
    emulator: EmulatorHandle, http: requests.Session, offset: int
) -> None:
    """
    Service routes, 404/405/307, control routes, injected faults and the stdlib's own error
    pages (400, 414, 431) all date their answer on the emulated clock.
    """
    emulator.set_clock_offset(offset)
    emulator.set_faults(Fault(route="me", status=503))
    answers = [
        http.get(emulator.basic_url, timeout=10),
        http.get(emulator.url + "/nope", timeout=10),
        http.get(emulator.token_url, timeout=10),
        http.post(emulator.token_url + "/", allow_redirects=False, timeout=10),
        http.get(emulator.control_url + "/clock", timeout=10),
        http.get(emulator.url + "/api/v1/users/me", timeout=10),
    ]
    assert [a.status_code for a in answers] == [401, 404, 405, 307, 200, 503]
    dates = [_date(a.headers["date"]) for a in answers]
    for raw, status in [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 120 + b"\r\n", b"431"),
    ]:
        status_line, date = _raw_date(emulator, raw)
        assert status in status_line
        dates.append(date)
    expected = time.time() + offset
    assert all(abs(date - expected) < TOLERANCE for date in dates), (expected, dates)


def test_tokens_are_issued_on_the_emulated_clock(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    iat, exp, expires_at and expires_in all follow the offset (and stay consistent).
    """
    emulator.set_clock_offset(-TEN_MINUTES)
    server_now = int(_server_time(http, emulator))
    signed = assertion(creds, emulator.token_url, iat=server_now, exp=server_now + 3600)
    body = mint(http, emulator.token_url, signed).json()
    claims = unverified_claims(body["access_token"])
    assert abs(claims["iat"] - (time.time() - TEN_MINUTES)) < TOLERANCE
    assert claims["exp"] - claims["iat"] == 900
    assert body["expires_at"] == claims["exp"] - 60
    assert body["expires_in"] == 840


def test_client_clock_ten_minutes_ahead_is_told_iat_is_in_the_future(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    A client signing on its own clock, 10 minutes ahead of the service (offset -600), is
    rejected for iat; the description gives the claim, the server's time and the gap.
    """
    emulator.set_clock_offset(-TEN_MINUTES)
    sent = claims_for(creds.client_id, emulator.token_url)
    response = mint(http, emulator.token_url, sign(sent, creds.client_secret))
    found = _rejection(response, "`iat` in the future")
    assert found["iat"] == sent["iat"]
    assert abs(found["now"] - (time.time() - TEN_MINUTES)) < TOLERANCE
    assert abs(found["gap"] - (found["iat"] - found["now"])) <= 1
    assert abs(found["gap"] - TEN_MINUTES) < TOLERANCE


def test_signing_on_the_services_clock_is_accepted(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    The cure a client can apply: read Date, sign on the service's time.
    """
    emulator.set_clock_offset(-TEN_MINUTES)
    server_now = int(_server_time(http, emulator))
    signed = assertion(creds, emulator.token_url, iat=server_now, exp=server_now + 3600)
    assert mint(http, emulator.token_url, signed).status_code == 200


def test_client_clock_behind_mints_unless_its_assertion_has_expired(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    Offset +600 (client 10 minutes behind): an hour-long assertion is still valid, a
    two-minute one has expired on the service's clock.
    """
    emulator.set_clock_offset(TEN_MINUTES)
    assert mint(http, emulator.token_url, assertion(creds, emulator.token_url)).status_code == 200
    now = int(time.time())
    short = assertion(creds, emulator.token_url, iat=now, exp=now + 120)
    found = _rejection(mint(http, emulator.token_url, short), "`exp` passed")
    assert found["exp"] == now + 120
    assert abs(found["gap"] - (TEN_MINUTES - 120)) < TOLERANCE
    assert abs(found["gap"] - (found["now"] - found["exp"])) <= 1


def test_nbf_in_the_future(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    nbf beyond the leeway: "The token is not yet valid", with the claim and the gap.
    """
    nbf = int(time.time()) + 300
    signed = assertion(creds, emulator.token_url, nbf=nbf)
    found = _rejection(mint(http, emulator.token_url, signed), "`nbf` in the future")
    assert found["nbf"] == nbf
    assert abs(found["gap"] - 300) < TOLERANCE


def test_lifetime_is_limited(
    emulator: EmulatorHandle,
    http: requests.Session,
    creds: AppCredentials,
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    exp - iat over an hour, or (without iat) exp over an hour away, is refused; a service
    started with max_assertion_lifetime=None takes both.
    """
    now = int(time.time())
    long = assertion(creds, emulator.token_url, iat=now, exp=now + 7200)
    found = _rejection(mint(http, emulator.token_url, long), "`exp - iat` too long")
    assert found == {"lifetime": 7200}
    far = assertion(creds, emulator.token_url, iat=None, exp=now + 7200)
    found = _rejection(mint(http, emulator.token_url, far), "no `iat`, `exp` too far")
    assert abs(found["gap"] - 7200) < TOLERANCE
    unlimited = spatiafi_emulator_factory(max_assertion_lifetime=None)
    other = unlimited.create_client()
    for extra in ({"iat": now, "exp": now + 7200}, {"iat": None, "exp": now + 7200}):
        signed = assertion(other, unlimited.token_url, **extra)
        assert mint(http, unlimited.token_url, signed).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "failure"),
    [
        ({"exp": -120}, "`exp` passed"),
        ({"exp": -30}, None),  # within the 60 s leeway
        ({"iat": 120}, "`iat` in the future"),
        ({"iat": 30}, None),
        ({"nbf": 120}, "`nbf` in the future"),
        ({"nbf": 30}, None),
    ],
)
def test_time_checks_allow_a_60_second_leeway(
    emulator: EmulatorHandle,
    http: requests.Session,
    creds: AppCredentials,
    overrides: dict[str, int],
    failure: str | None,
) -> None:
    """
    exp may be up to 60 s past, iat and nbf up to 60 s ahead.
    """
    now = int(time.time())
    claims = {name: now + delta for name, delta in overrides.items()}
    response = mint(http, emulator.token_url, assertion(creds, emulator.token_url, **claims))
    if failure is None:
        assert response.status_code == 200, response.text
    else:
        _rejection(response, failure)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [10**30, 1e300, -(2**60), True, "soon", [1]])
def test_claims_that_are_not_numeric_dates(
    emulator: EmulatorHandle,
    http: requests.Session,
    creds: AppCredentials,
    claim: str,
    value: object,
) -> None:
    """
    Huge, boolean or non-numeric times are refused cleanly, never a 500.
    """
    signed = assertion(creds, emulator.token_url, **{claim: value})
    response = mint(http, emulator.token_url, signed)
    assert response.status_code == 401, response.text
    assert response.json()["error_description"] == f"client_assertion {claim} is not a NumericDate"


def test_nan_and_infinity_are_not_json(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    RFC 8259: NaN/Infinity are not JSON numbers; an assertion carrying one is malformed.
    """
    for value in (float("nan"), float("inf")):
        signed = assertion(creds, emulator.token_url, exp=value)
        response = mint(http, emulator.token_url, signed)
        assert response.status_code == 401
        assert "malformed" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("NaN", float("nan")),
        ("-Infinity", float("-inf")),
        ("1e12", 1e12),
        ('"600"', "600"),
        ("true", True),
    ],
)
def test_unusable_offsets_are_refused(
    emulator: EmulatorHandle, http: requests.Session, text: str, offset: object
) -> None:
    """
    The control API answers 400, the config raises ValueError; the clock stays as it was.
    """
    body = f'{{"offset": {text}}}'
    response = http.put(emulator.control_url + "/clock", data=body, headers=JSON, timeout=10)
    assert response.status_code == 400, response.text
    assert emulator.clock_offset() == 0
    with pytest.raises(ValueError, match="clock offset"):
        EmulatorConfig(clock_offset=offset)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clock offset"), running(clock_offset=offset):
        pass


def test_configured_offset_is_the_reset_value(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle], http: requests.Session
) -> None:
    """
    EmulatorConfig.clock_offset applies from the start and is what a reset restores.
    """
    handle = spatiafi_emulator_factory(clock_offset=TEN_MINUTES)
    assert abs(_server_time(http, handle) - (time.time() + TEN_MINUTES)) < TOLERANCE
    handle.set_clock_offset(0)
    handle.reset()
    assert handle.clock_offset() == TEN_MINUTES
