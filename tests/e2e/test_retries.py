"""
Transient failures are retried with backoff within the deadline; permanent ones are not.

Request counts come from the emulator, so each test proves how many attempts were made.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops import (
    AppCredentials,
    CredentialsRejected,
    DeadlineExceeded,
    RetryPolicy,
    ServiceUnavailable,
    Settings,
    mint_token,
)
from spatiafi_ops._errors import RequestRejected
from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, json_lines

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
TOKEN = "token"


@pytest.fixture(name="client")
def _client(service: EmulatorHandle) -> AppCredentials:
    created = service.create_client()
    return AppCredentials(client_id=created.client_id, client_secret=created.client_secret)


def settings(service: EmulatorHandle, **kwargs: Any) -> Settings:
    return Settings(auth_url=service.url, **kwargs)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(route=TOKEN, status=500, times=2),
        Fault(route=TOKEN, status=502, times=2),
        Fault(route=TOKEN, status=503, times=2),
        Fault(route=TOKEN, status=504, times=2),
        Fault(route=TOKEN, status=429, retry_after=0, times=2),
        Fault(route=TOKEN, kind="drop", times=2),
        Fault(route=TOKEN, kind="reset", times=2),
        Fault(route=TOKEN, kind="truncate", times=2),
    ],
    ids=["500", "502", "503", "504", "429", "drop", "reset", "truncate"],
)
def test_each_transient_fault_is_retried_until_success(
    service: EmulatorHandle, client: AppCredentials, fault: Fault
) -> None:
    """Two failures, then success: exactly three token requests reach the service."""
    service.set_faults(fault)
    token = mint_token(client, settings(service), policy=FAST)
    assert token.ttl() > 600
    assert service.count(TOKEN) == 3


def test_minting_uses_a_client_secret_jwt_assertion(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """Against a service that accepts only assertions, minting still works (no secret sent)."""
    strict = spatiafi_emulator_factory(lenient_client_auth=False)
    created = strict.create_client()
    client = AppCredentials(client_id=created.client_id, client_secret=created.client_secret)
    assert mint_token(client, Settings(auth_url=strict.url), policy=FAST).ttl() > 600
    assert mint_token(client, Settings(auth_url=strict.url), policy=FAST).ttl() > 600
    assert strict.count(TOKEN) == 2


def test_retry_after_is_honoured(service: EmulatorHandle, client: AppCredentials) -> None:
    """A 429 with Retry-After: 1 waits about a second even when backoff would wait less."""
    import time

    service.set_faults(Fault(route=TOKEN, status=429, retry_after=1, times=1))
    started = time.monotonic()
    mint_token(client, settings(service), policy=FAST)
    assert time.monotonic() - started >= 1.0  # a lower bound cannot flake
    assert service.count(TOKEN) == 2


@pytest.mark.parametrize(
    ("credentials_change", "error"),
    [
        ({"client_secret": "x" * 43}, CredentialsRejected),
        ({"client_id": "00000000-0000-4000-8000-000000000000"}, CredentialsRejected),
    ],
)
def test_rejected_credentials_are_never_retried(
    service: EmulatorHandle,
    client: AppCredentials,
    credentials_change: dict[str, str],
    error: type[Exception],
) -> None:
    """invalid_client is permanent: one request, then CredentialsRejected."""
    bad = AppCredentials(**{**client._asdict(), **credentials_change})
    with pytest.raises(error, match="rejected the credentials"):
        mint_token(bad, settings(service), policy=FAST)
    assert service.count(TOKEN) == 1


def test_a_deleted_client_is_rejected_once(service: EmulatorHandle, client: AppCredentials) -> None:
    """A revoked client gets exit-3 semantics after a single request."""
    service.delete_client(client.client_id)
    with pytest.raises(CredentialsRejected):
        mint_token(client, settings(service), policy=FAST)
    assert service.count(TOKEN) == 1


def test_a_4xx_fault_is_not_retried(service: EmulatorHandle, client: AppCredentials) -> None:
    """A 400 that is not about credentials is RequestRejected after one request."""
    service.set_faults(Fault(route=TOKEN, status=400, times=1))
    with pytest.raises(RequestRejected):
        mint_token(client, settings(service), policy=FAST)
    assert service.count(TOKEN) == 1


def test_the_deadline_bounds_all_retries(service: EmulatorHandle, client: AppCredentials) -> None:
    """A service that always fails is given up on once the deadline is spent."""
    service.set_faults(Fault(route=TOKEN, status=503))
    policy = RetryPolicy(initial=0.1, maximum=0.2, jitter=0.0)
    with pytest.raises(DeadlineExceeded, match="gave up after") as caught:
        mint_token(client, settings(service, deadline=1.0), policy=policy)
    attempts = service.count(TOKEN)
    assert 2 <= attempts <= 12
    assert caught.value.status == 503


def test_a_slow_answer_times_out_and_is_retried(
    service: EmulatorHandle, client: AppCredentials
) -> None:
    """A request slower than --timeout is abandoned and retried."""
    service.set_faults(Fault(route=TOKEN, kind="latency", latency=2.0, times=1))
    token = mint_token(client, settings(service, timeout=0.3), policy=FAST)
    assert token.value
    assert service.count(TOKEN) == 2


def test_an_unreachable_host_is_service_unavailable(client: AppCredentials) -> None:
    """Nothing listening: ServiceUnavailable after retries, within the deadline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceUnavailable, match="could not connect"):
        mint_token(client, Settings(auth_url=f"http://127.0.0.1:{port}", deadline=0.5), policy=FAST)


def test_cli_exit_codes_for_rejected_and_unreachable(
    runner: RecordingRunner, service: EmulatorHandle, client: AppCredentials
) -> None:
    """The CLI maps rejection to 3 and a service that keeps failing to 4, one line each."""
    env = {"SPATIAFI_CLIENT_ID": client.client_id, "SPATIAFI_CLIENT_SECRET": "y" * 43}
    rejected = runner.run(["token"], env=env)
    assert rejected.exit_code == 3
    assert json_lines(rejected.stderr)[-1]["message"].startswith(
        "the service rejected the credentials"
    )
    service.set_faults(Fault(route=TOKEN, status=502))
    env["SPATIAFI_CLIENT_SECRET"] = client.client_secret
    failing = runner.run(["--deadline", "1", "token", "--no-cache"], env=env)
    assert failing.exit_code == 4
    assert "HTTP 502" in failing.stderr
    assert "Traceback" not in failing.stderr


def test_a_lost_create_response_is_reconciled_not_blindly_reposted(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A create whose answer is lost after the client was made is reconciled by listing:
    on an exclusive account the orphan is revoked, one new client is stored, and the result
    says so."""
    service.set_faults(Fault(route="clients", kind="drop", after=True, times=1))
    result = runner.run(["credentials", "create", "--exclusive-account"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    (orphan,) = out["orphaned_client_ids"]
    assert out["revoked_client_ids"] == [orphan]
    assert service.count("clients") == 2
    assert {client["client_id"] for client in service.clients()} == {out["client_id"]}
    stored_id = json.loads((clean_environment["config"] / "app_credentials.json").read_text())
    assert stored_id["client_id"] == out["client_id"] != orphan


def test_a_create_turned_away_with_429_is_retried(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """429 means the create was not processed, so repeating it is safe."""
    service.set_faults(Fault(route="clients", status=429, retry_after=0, times=1))
    result = runner.run(["credentials", "create"])
    assert result.exit_code == 0, result.stderr
    assert service.count("clients") == 2
    assert len(service.clients()) == 1
