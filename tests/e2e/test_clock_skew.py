"""
A local clock minutes off the service's: assertions are signed on the service's clock (as
its Date header shows it), a rejection for time is retried once on it, and a service that
still refuses for time is a clock problem (ClockSkew, exit 5), never rejected credentials.

Request counts come from the emulator or the hostile server, so each test proves how
many assertions were sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from spatiafi_ops import (
    AppCredentials,
    ClockSkew,
    CredentialsRejected,
    RetryPolicy,
    ServiceClock,
    Settings,
    mint_token,
)
from spatiafi_ops._api import TOKEN_PATH
from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner
from tests.e2e.conftest import create_credentials
from tests.hostile_server import Behaviour, HostileServer, assertion_claims, skewed_token_route

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
TOKEN = "token"
CLIENT = AppCredentials(
    client_id="2a7b9c1d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
    client_secret="clock-skew-secret-0123456789abcdef",
)


@pytest.fixture(name="client")
def _client(service: EmulatorHandle) -> AppCredentials:
    created = service.create_client()
    return AppCredentials(client_id=created.client_id, client_secret=created.client_secret)


@pytest.mark.parametrize(
    ("offset", "requests"),
    [(600, 1), (-600, 2)],
    ids=["service-ahead", "service-behind"],
)
def test_minting_works_with_the_clocks_ten_minutes_apart(
    service: EmulatorHandle, client: AppCredentials, offset: float, requests: int
) -> None:
    """Service ahead: our iat is in its past, exp still in its future (one request).
    Service behind: our iat is in its future, refused, then signed on its clock (two)."""
    service.set_clock_offset(offset)
    token = mint_token(client, Settings(auth_url=service.url), policy=FAST)
    assert token.ttl() > 600
    assert service.count(TOKEN) == requests


def test_a_run_clock_signs_later_assertions_right_the_first_time(
    service: EmulatorHandle, client: AppCredentials
) -> None:
    """One ServiceClock per run: once the offset is measured, no assertion is refused."""
    service.set_clock_offset(-600)
    clock = ServiceClock()
    settings = Settings(auth_url=service.url)
    mint_token(client, settings, policy=FAST, clock=clock)
    assert clock.offset is not None
    assert -603 < clock.offset < -597
    mint_token(client, settings, policy=FAST, clock=clock)
    mint_token(client, settings, policy=FAST, clock=clock)
    assert service.count(TOKEN) == 2 + 1 + 1


@pytest.mark.parametrize("offset", [600, -600], ids=["service-ahead", "service-behind"])
def test_the_cli_neither_fails_nor_churns_clients_with_a_skewed_clock(
    runner: RecordingRunner, service: EmulatorHandle, offset: float
) -> None:
    """token and ensure: exit 0, and ensure creates no client (issue 10's churn)."""
    create_credentials(runner)
    service.set_clock_offset(offset)
    token = runner.run(["token", "--no-cache"])
    assert token.exit_code == 0, token.stderr
    ensure = runner.run(["credentials", "ensure"])
    assert ensure.exit_code == 0, ensure.stderr
    assert json.loads(ensure.stdout)["action"] == "unchanged"
    assert len(service.clients()) == 1


def test_the_retry_is_signed_on_the_service_clock(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """The second assertion's iat is the service's time (less a small margin), with a
    fresh jti; the first was ours."""
    offset = -3600.0
    server = serve({TOKEN_PATH: skewed_token_route(offset)})
    mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    first, second = (assertion_claims(request) for request in server.requests)
    assert first["iat"] - second["iat"] == pytest.approx(-offset, abs=5)
    assert first["jti"] != second["jti"]


def test_an_expiry_on_the_service_clock_is_read_on_it(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """expires_at in the service's time, an hour behind ours, is still 14 minutes ahead."""
    server = serve({TOKEN_PATH: skewed_token_route(-3600.0)})
    assert 800 < mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST).ttl() <= 841


def test_a_service_that_still_refuses_for_time_is_clock_skew(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """Refused for time on both clocks: ClockSkew with the measured offset, after two."""
    server = serve({TOKEN_PATH: skewed_token_route(600, reason="client_assertion has expired")})
    with pytest.raises(ClockSkew, match="NTP") as caught:
        mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    assert caught.value.offset is not None
    assert 597 < caught.value.offset < 603
    assert "600s behind the service's" in str(caught.value)
    assert server.count(TOKEN_PATH) == 2


def test_a_refusal_for_time_without_a_date_header_is_clock_skew(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """Nothing to sign on instead: ClockSkew at once, offset unknown."""
    server = serve({TOKEN_PATH: skewed_token_route(-600, dated=False)})
    with pytest.raises(ClockSkew) as caught:
        mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    assert caught.value.offset is None
    assert server.count(TOKEN_PATH) == 1


@pytest.mark.parametrize(
    ("offset", "requests"),
    [(0, 1), (600, 2)],
    ids=["clocks-agree", "clocks-apart"],
)
def test_a_refusal_not_about_time_stays_a_credential_rejection(
    serve: Callable[[dict[str, Behaviour]], HostileServer], offset: float, requests: int
) -> None:
    """Clocks in agreement: one request. Clocks apart: one more on the service's clock
    (an unexplained refusal may be about time), then CredentialsRejected."""
    server = serve({TOKEN_PATH: skewed_token_route(offset, reason="signature mismatch")})
    with pytest.raises(CredentialsRejected) as caught:
        mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    assert type(caught.value) is CredentialsRejected
    assert caught.value.error == "invalid_client"
    assert caught.value.detail == "signature mismatch"
    assert server.count(TOKEN_PATH) == requests


def test_the_cli_exits_5_for_clock_skew(
    serve: Callable[[dict[str, Behaviour]], HostileServer], runner: RecordingRunner
) -> None:
    """exit 5, one sentence naming the clock and the offset; never 'create new ones'."""
    server = serve({TOKEN_PATH: skewed_token_route(-600, reason="token is not yet valid")})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    result = runner.run(["--auth-url", server.url, "token", "--no-cache"], env=env)
    assert result.exit_code == 5
    assert "ahead of the service's" in result.stderr
    assert "create new ones" not in result.stderr


def doctor_verdicts(runner: RecordingRunner, *args: str, env: Any = None) -> tuple[int, Any]:
    result = runner.run([*args, "doctor", "--format", "json"], env=env)
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)}


@pytest.mark.parametrize("offset", [600, -600], ids=["service-ahead", "service-behind"])
def test_doctor_warns_of_skew_it_can_make_up_for(
    runner: RecordingRunner, service: EmulatorHandle, offset: float
) -> None:
    """Ten minutes either way: the mint works, the clock is a warning, exit 0."""
    create_credentials(runner)
    service.set_clock_offset(offset)
    code, checks = doctor_verdicts(runner)
    assert code == 0
    assert checks["mint"]["verdict"] == "ok"
    assert checks["clock"]["verdict"] == "warn"
    assert "600s" in checks["clock"]["detail"]


def test_doctor_fails_the_clock_when_it_breaks_a_mint(
    serve: Callable[[dict[str, Behaviour]], HostileServer], runner: RecordingRunner
) -> None:
    """A service that refuses for time even on its clock: clock and mint fail, exit 5."""
    server = serve({TOKEN_PATH: skewed_token_route(600, reason="clock skew too large")})
    env = {"SPATIAFI_CLIENT_ID": CLIENT.client_id, "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret}
    code, checks = doctor_verdicts(runner, "--auth-url", server.url, env=env)
    assert code == 5
    assert checks["clock"]["verdict"] == "fail"
    assert checks["mint"]["verdict"] == "fail"
