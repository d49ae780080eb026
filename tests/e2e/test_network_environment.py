"""
What the environment may and may not change about a request, over real sockets: ~/.netrc
never replaces our Authorization header; proxies and NO_PROXY are honoured; http:// goes
nowhere but loopback unless allowed.

Every host here is 127.0.0.1, or a name that is refused (or sent to a proxy on
127.0.0.1) before any lookup: no test touches the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from spatiafi_ops import (
    AccessToken,
    AppCredentials,
    InsecureTransport,
    RetryPolicy,
    Settings,
    mint_token,
)
from spatiafi_ops._api import BASIC_TOKEN_PATH, CLIENTS_PATH, TOKEN_PATH, list_clients
from spatiafi_ops._http import Deadline, HttpClient
from tests.conftest import RecordingRunner
from tests.hostile_server import Behaviour, HostileServer, json_answer, token_body

FAST = RetryPolicy(initial=0.01, maximum=0.05, jitter=0.01)
CLIENT = AppCredentials(
    client_id="7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
    client_secret="network-environment-secret-0123456789",
)
NETRC_PASSWORD = "netrc-password-never-sent-4f2a"
# Reserved (RFC 6761 §6.4): never resolves, and is refused or proxied before any lookup.
FAR_AWAY = "http://spatiafi.invalid"


@pytest.fixture(name="netrc_home")
def _netrc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp HOME whose ~/.netrc has a login for 127.0.0.1 (the real HOME is untouched)."""
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login netrc-user password {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NETRC", raising=False)
    return home


def test_the_netrc_fixture_would_be_used_by_plain_requests(
    serve: Callable[[dict[str, Behaviour]], HostileServer], netrc_home: Path
) -> None:
    """The premise: requests' defaults send the netrc login to 127.0.0.1."""
    server = serve({})
    requests.get(server.url + "/probe", timeout=5)
    assert server.requests[0].headers.get("authorization", "").startswith("Basic ")


def test_netrc_never_replaces_the_bearer_header(
    serve: Callable[[dict[str, Behaviour]], HostileServer], netrc_home: Path
) -> None:
    """The clients routes carry our Bearer token, whatever ~/.netrc says."""
    server = serve({CLIENTS_PATH: json_answer(200, [])})
    token = AccessToken(value="user.token.value", token_type="bearer", expires_at=time.time() + 60)
    http = HttpClient(timeout=5, deadline=Deadline(10), policy=FAST)
    assert list_clients(http, server.url, token) == []
    assert server.requests[0].headers["authorization"] == "Bearer user.token.value"


def test_doctor_probes_without_credentials_despite_netrc(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
    netrc_home: Path,
    runner: RecordingRunner,
) -> None:
    """doctor's unauthenticated probe stays unauthenticated: no netrc password is sent."""
    server = serve({BASIC_TOKEN_PATH: json_answer(401, {"detail": "Unauthorized"})})
    runner.run(["--auth-url", server.url, "doctor", "--format", "json"])
    probes = [r for r in server.requests if r.path == BASIC_TOKEN_PATH]
    assert probes
    assert all("authorization" not in probe.headers for probe in probes)


def test_the_token_request_never_carries_the_netrc_login(
    serve: Callable[[dict[str, Behaviour]], HostileServer], netrc_home: Path
) -> None:
    """A mint sends an assertion and nothing of ~/.netrc."""
    server = serve({TOKEN_PATH: json_answer(200, token_body())})
    mint_token(CLIENT, Settings(auth_url=server.url), policy=FAST)
    request = server.requests[0]
    assert "authorization" not in request.headers
    assert NETRC_PASSWORD.encode() not in request.body


def proxy_env(monkeypatch: pytest.MonkeyPatch, proxy: HostileServer, **extra: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_http_proxy_is_honoured_when_cleartext_is_allowed(
    serve: Callable[[dict[str, Behaviour]], HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY carries a request to a far host (allowed in cleartext) in absolute form."""
    proxy = serve({TOKEN_PATH: json_answer(200, token_body())})
    proxy_env(monkeypatch, proxy)
    settings = Settings(auth_url=FAR_AWAY, allow_insecure_transport=True)
    assert mint_token(CLIENT, settings, policy=FAST).ttl() > 600
    assert proxy.requests[0].target == FAR_AWAY + TOKEN_PATH


def test_no_proxy_sends_a_request_direct(
    serve: Callable[[dict[str, Behaviour]], HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY names the service: the proxy sees nothing, the service answers."""
    proxy = serve({})
    service = serve({TOKEN_PATH: json_answer(200, token_body())})
    proxy_env(monkeypatch, proxy, NO_PROXY="127.0.0.1")
    assert mint_token(CLIENT, Settings(auth_url=service.url), policy=FAST).ttl() > 600
    assert proxy.requests == []
    assert service.count(TOKEN_PATH) == 1


def test_cleartext_to_a_far_host_is_refused_before_any_request(
    serve: Callable[[dict[str, Behaviour]], HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """http:// beyond loopback: InsecureTransport naming the option; nothing is sent."""
    proxy = serve({TOKEN_PATH: json_answer(200, token_body())})
    proxy_env(monkeypatch, proxy)
    with pytest.raises(InsecureTransport, match="--allow-insecure-transport"):
        mint_token(CLIENT, Settings(auth_url=FAR_AWAY), policy=FAST)
    assert proxy.requests == []


def test_loopback_never_goes_through_a_proxy(
    serve: Callable[[dict[str, Behaviour]], HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """http:// to loopback with a proxy elsewhere and no NO_PROXY: sent direct, as Go's
    net/http does (the proxy could not reach this machine's 127.0.0.1 anyway)."""
    service = serve({TOKEN_PATH: json_answer(200, token_body())})
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert mint_token(CLIENT, Settings(auth_url=service.url), policy=FAST).ttl() > 600
    assert service.count(TOKEN_PATH) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["token", "--no-cache"],
        ["login"],
        ["credentials", "create"],
    ],
    ids=["token", "login", "create"],
)
def test_the_cli_refuses_cleartext_with_exit_2(
    runner: RecordingRunner, args: list[str], clean_environment: dict[str, Path]
) -> None:
    """Every command that talks to the service: exit 2, naming the option."""
    env = {
        "SPATIAFI_CLIENT_ID": CLIENT.client_id,
        "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret,
        "SPATIAFI_USERNAME": "u@example.com",
        "SPATIAFI_PASSWORD": "a-password-value",
    }
    result = runner.run(["--auth-url", FAR_AWAY, *args], env=env)
    assert result.exit_code == 2, result.stderr
    assert "--allow-insecure-transport" in result.stderr


def test_the_cli_option_and_variable_allow_cleartext(
    serve: Callable[[dict[str, Behaviour]], HostileServer], runner: RecordingRunner
) -> None:
    """--allow-insecure-transport or SPATIAFI_ALLOW_INSECURE_TRANSPORT=1: the request goes,
    for every command (login builds its client like the others)."""
    proxy = serve(
        {
            TOKEN_PATH: json_answer(200, token_body()),
            BASIC_TOKEN_PATH: json_answer(200, token_body()),
        }
    )
    env = {
        "SPATIAFI_CLIENT_ID": CLIENT.client_id,
        "SPATIAFI_CLIENT_SECRET": CLIENT.client_secret,
        "HTTP_PROXY": proxy.url,
    }
    flag = runner.run(
        ["--auth-url", FAR_AWAY, "--allow-insecure-transport", "token", "--no-cache"], env=env
    )
    assert flag.exit_code == 0, flag.stderr
    variable = runner.run(
        ["--auth-url", FAR_AWAY, "token", "--no-cache"],
        env={**env, "SPATIAFI_ALLOW_INSECURE_TRANSPORT": "1"},
    )
    assert variable.exit_code == 0, variable.stderr
    assert proxy.count(TOKEN_PATH) == 2
    login = runner.run(
        ["--auth-url", FAR_AWAY, "--allow-insecure-transport", "login"],
        env={**env, "SPATIAFI_USERNAME": "u@example.com", "SPATIAFI_PASSWORD": "pw-0123456789"},
    )
    assert login.exit_code == 0, login.stderr
    assert proxy.count(BASIC_TOKEN_PATH) == 1
