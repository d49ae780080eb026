"""
The server itself: running(), keep-alive, concurrency, clean stop, wire details, quiet logs.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import pytest
import requests

import spatiafi_ops.emulator as emulator_module
from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import Emulator, EmulatorConfig, EmulatorHandle, User, _jwt, running

from .emulator_testlib import DEFAULT_PASSWORD, assertion, basic, mint


def _raw(handle: EmulatorHandle, data: bytes) -> bytes:
    parts = urlsplit(handle.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_running_binds_loopback_and_stops_cleanly(http: requests.Session) -> None:
    """
    running() yields a handle whose str() is the base URL; afterwards the port is closed.
    """
    with running() as handle:
        assert str(handle) == handle.url
        assert handle.url.startswith("http://127.0.0.1:")
        assert handle.token_url == handle.url + "/api/v1/auth/jwt/token"
        # Leave a keep-alive connection open: stopping must not hang on it.
        assert http.get(handle.basic_url, timeout=10).status_code == 401
    with pytest.raises(requests.ConnectionError):
        http.get(handle.basic_url, timeout=10)


def test_config_users_and_overrides() -> None:
    """
    EmulatorConfig fields can be given as a config object and/or keywords.
    """
    config = EmulatorConfig(users=(User("a@example.com", "pw-a", id="fixed-id"),))
    with running(config, client_management=False) as handle:
        assert [u["id"] for u in handle.users()] == ["fixed-id"]
        assert handle.info()["client_management"] is False
    assert "pw-a" not in repr(config)


def test_emulator_object_start_stop_and_issuer_override(http: requests.Session) -> None:
    """
    Emulator knows its URL before starting; an issuer override changes iss, not the socket.
    """
    emulator = Emulator(issuer="https://auth.example.test")
    assert emulator.url.startswith("http://127.0.0.1:")
    with emulator as handle:
        creds = handle.create_client()
        # The aud may be the issuer's token URL or the URL the client actually used.
        for aud in ("https://auth.example.test/api/v1/auth/jwt/token", handle.token_url):
            assert mint(http, handle.token_url, assertion(creds, aud)).status_code == 200
    emulator.stop()  # idempotent
    with pytest.raises(RuntimeError):
        emulator.start()


def test_keep_alive_reuses_one_connection(
    emulator: EmulatorHandle, http: requests.Session, creds: AppCredentials
) -> None:
    """
    HTTP/1.1 keep-alive: twenty mints over a single TCP connection.
    """
    for _ in range(20):
        assert mint(http, emulator.token_url, assertion(creds, emulator.token_url)).ok
    adapter = http.get_adapter(emulator.url)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    port = urlsplit(emulator.url).port
    manager = adapter.poolmanager
    keys = manager.pools.keys()  # RecentlyUsedContainer cannot be iterated directly
    pools = [manager.pools[key] for key in keys if key.key_port == port]
    assert [(pool.num_connections, pool.num_requests) for pool in pools] == [(1, 20)]


def test_concurrent_clients_all_succeed(emulator: EmulatorHandle, creds: AppCredentials) -> None:
    """
    Four threads with their own sessions, 50 mints each: all 200, all counted.
    """
    results: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with requests.Session() as session:
            session.trust_env = False
            for _ in range(50):
                status = mint(session, emulator.token_url, assertion(creds, emulator.token_url))
                with lock:
                    results.append(status.status_code)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [200] * 200
    assert emulator.count("token") == 200


def test_concurrent_replays_of_one_assertion_succeed_once(
    emulator: EmulatorHandle, creds: AppCredentials
) -> None:
    """
    The replay cache is race-free: eight simultaneous uses of one jti, one success.
    """
    token = assertion(creds, emulator.token_url)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def work() -> None:
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait(timeout=10)
            statuses.append(mint(session, emulator.token_url, token).status_code)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200] + [401] * 7


def test_chunked_request_body_is_read(emulator: EmulatorHandle, creds: AppCredentials) -> None:
    """
    A form sent with Transfer-Encoding: chunked is understood.
    """
    form = (
        "grant_type=client_credentials&client_assertion_type="
        "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        f"&client_assertion={assertion(creds, emulator.token_url)}"
    ).encode()
    half = len(form) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (form[:half], form[half:]))
    request = (
        b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    reply = _raw(emulator, request)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"access_token"' in reply


def test_bad_content_length_is_400_and_closes(emulator: EmulatorHandle) -> None:
    """
    A malformed Content-Length gets a 400 and the connection is closed.
    """
    reply = _raw(
        emulator,
        b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in reply


def test_head_has_no_body_and_responses_are_one_write(emulator: EmulatorHandle) -> None:
    """
    HEAD gets headers only; every response has date, server and content-length.
    """
    reply = _raw(emulator, b"HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"content-length: 22" in head
    assert b"date: " in head
    assert b"server: " in head
    assert body == b""


def test_logs_never_contain_secrets(
    emulator: EmulatorHandle,
    http: requests.Session,
    creds: AppCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    At DEBUG the emulator logs method, path and status, never a password, secret or token.
    """
    caplog.set_level(logging.DEBUG, logger="spatiafi_ops.emulator")
    token_assertion = assertion(creds, emulator.token_url)
    login = http.get(
        emulator.basic_url + "?password=" + DEFAULT_PASSWORD,
        headers={"Authorization": basic("null@example.com", DEFAULT_PASSWORD)},
        timeout=10,
    )
    user_token = login.json()["access_token"]
    created = http.post(
        emulator.clients_url, headers={"Authorization": f"Bearer {user_token}"}, timeout=10
    ).json()
    minted = mint(http, emulator.token_url, token_assertion).json()
    mint(http, emulator.token_url, token_assertion)  # a rejected replay
    text = caplog.text
    assert "POST /api/v1/auth/jwt/token" in text
    for secret in (
        DEFAULT_PASSWORD,
        creds.client_secret,
        created["client_secret"],
        token_assertion,
        user_token,
        minted["access_token"],
    ):
        assert secret not in text


def test_plugin_imports_cheaply() -> None:
    """
    The pytest plugin loads into every pytest run: it must not import the emulator,
    requests or authlib until a fixture is used.
    """
    code = (
        "import sys, spatiafi_ops.pytest_plugin\n"
        "heavy = ('requests', 'authlib', 'spatiafi_ops.emulator')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_emulator_imports_no_client_libraries() -> None:
    """
    The emulator shares no code with the client side: no authlib, requests or joserfc.
    """
    code = (
        "import sys, spatiafi_ops.emulator\n"
        "print(','.join(m for m in ('requests', 'authlib', 'joserfc') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_exported_names() -> None:
    """
    __all__ lists exactly the public names, each defined under the public module.
    """
    assert sorted(emulator_module.__all__) == emulator_module.__all__
    for name in emulator_module.__all__:
        value = getattr(emulator_module, name)
        if isinstance(value, type):
            assert value.__module__ == "spatiafi_ops.emulator", name


@pytest.mark.parametrize("segment", ["a=", "a+b", "a/b", "abcde", "a b"])
def test_own_jwt_base64url_is_strict(segment: str) -> None:
    """
    The emulator's decoder refuses padding, the standard alphabet and impossible lengths.
    """
    with pytest.raises(_jwt.JWTError):
        _jwt.b64url_decode(segment)


def test_own_jwt_round_trip_and_key_check() -> None:
    """
    encode_hs256 and verify_hs256 agree, and a different key fails.
    """
    token = _jwt.encode_hs256({"a": 1}, b"k" * 32)
    parsed = _jwt.parse(token)
    _jwt.verify_hs256(parsed, b"k" * 32)
    assert parsed.claims == {"a": 1}
    assert parsed.header == {"alg": "HS256", "typ": "JWT"}
    with pytest.raises(_jwt.JWTError, match="signature"):
        _jwt.verify_hs256(parsed, b"x" * 32)
