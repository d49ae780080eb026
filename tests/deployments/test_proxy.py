"""
Behind a corporate proxy: a real forward proxy (proxy.py, plain HTTP and CONNECT) set in
``HTTP_PROXY``/``HTTPS_PROXY``. Loopback never goes through it (as in Go's net/http), with or
without ``NO_PROXY``; a far service does; ``make demo`` and ``doctor`` work behind it.

The proxy runs with tests/deployments/proxy_plugin.py, which makes it a proxy on another
host: it cannot reach this machine's 127.0.0.1 (502), and knows ``*.spatiafi.test`` as
this machine (so a "far" service is the test's emulator).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import RecordingRunner, json_lines, record_output

REPO = Path(__file__).resolve().parents[2]
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


@dataclass
class ForwardProxy:
    url: str
    port: int
    log: Path

    def requests(self) -> list[str]:
        """
        Return the requests it handled: ``CONNECT host:port`` or ``GET host:port``.
        """
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def environment(self, *, no_proxy: str | None = None) -> dict[str, str]:
        env = dict.fromkeys(PROXY_VARIABLES, self.url)
        if no_proxy is not None:
            env["NO_PROXY"] = env["no_proxy"] = no_proxy
        return env


@pytest.fixture(name="forward_proxy", scope="module")
def _forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    """
    proxy.py on a free 127.0.0.1 port, one process for the module.
    """
    pytest.importorskip("proxy", reason="proxy.py is in the test extras")
    root = tmp_path_factory.mktemp("proxy")
    port_file, log = root / "port", root / "requests.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SPATIAFI_TEST_PROXY_LOG": str(log),
    }
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy",
            "--hostname=127.0.0.1",
            "--port=0",
            f"--port-file={port_file}",
            "--num-acceptors=1",
            "--num-workers=1",
            "--timeout=5",
            "--plugins=tests.deployments.proxy_plugin.FarAwayProxy",
            f"--log-file={root / 'proxy.log'}",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("proxy.py did not start")
            time.sleep(0.05)
        port = int(port_file.read_text())
        yield ForwardProxy(f"http://127.0.0.1:{port}", port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(name="proxy_log")
def _proxy_log(forward_proxy: ForwardProxy) -> ForwardProxy:
    forward_proxy.log.unlink(missing_ok=True)
    return forward_proxy


def _exchange(proxy: ForwardProxy, *lines: str) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(65536)


def _far(emulator: EmulatorHandle) -> str:
    port = emulator.url.rsplit(":", 1)[1].rstrip("/")
    return f"auth.spatiafi.test:{port}"


def test_the_proxy_forwards_plain_http_and_tunnels_connect(
    proxy_log: ForwardProxy, spatiafi_emulator: EmulatorHandle
) -> None:
    """The imitation is a working proxy: absolute-form GET and a CONNECT tunnel reach a far
    host; this machine's loopback is out of its reach."""
    far = _far(spatiafi_emulator)
    answer = _exchange(
        proxy_log, f"GET http://{far}/ HTTP/1.1", f"Host: {far}", "Connection: close"
    )
    assert answer.startswith(b"HTTP/1.1 404"), answer[:80]  # the emulator's own answer
    with socket.create_connection(("127.0.0.1", proxy_log.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {far} HTTP/1.1\r\nHost: {far}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {far}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 404")
    loopback = spatiafi_emulator.url.removeprefix("http://").rstrip("/")
    refused = _exchange(proxy_log, f"GET http://{loopback}/ HTTP/1.1", f"Host: {loopback}")
    assert refused.startswith(b"HTTP/1.1 502")
    assert proxy_log.requests() == [f"GET {far}", f"CONNECT {far}", f"GET {loopback}"]


@pytest.mark.parametrize("no_proxy", [None, "127.0.0.1,localhost"], ids=["no-NO_PROXY", "NO_PROXY"])
def test_commands_against_a_loopback_service_never_use_the_proxy(
    runner: RecordingRunner,
    proxy_log: ForwardProxy,
    spatiafi_emulator: EmulatorHandle,
    no_proxy: str | None,
) -> None:
    """create, token and doctor against 127.0.0.1 with HTTP(S)_PROXY set: exit 0, and the
    proxy sees nothing (a proxy elsewhere would answer 502)."""
    env = {
        **proxy_log.environment(no_proxy=no_proxy),
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
    }
    for args in (["credentials", "create"], ["token", "--no-cache"], ["doctor", "--format=json"]):
        result = runner.run(args, env=env)
        assert result.exit_code == 0, (args, result.stderr)
        assert "--allow-insecure-transport" not in result.stderr
    doctor = json.loads(result.stdout)
    proxy_check = next(check for check in doctor if check["name"] == "proxy")
    assert "reached directly" in proxy_check["detail"]
    assert proxy_log.requests() == []


def test_a_far_service_goes_through_the_proxy(
    runner: RecordingRunner, proxy_log: ForwardProxy, spatiafi_emulator: EmulatorHandle
) -> None:
    """A service on another host is reached through HTTP_PROXY (absolute-form request)."""
    created = spatiafi_emulator.create_client()
    env = {
        **proxy_log.environment(),
        "SPATIAFI_CLIENT_ID": created.client_id,
        "SPATIAFI_CLIENT_SECRET": created.client_secret,
    }
    far = _far(spatiafi_emulator)
    args = ["--auth-url", f"http://{far}", "--allow-insecure-transport", "token", "--no-cache"]
    result = runner.run(args, env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(".") == 2
    assert proxy_log.requests() == [f"POST {far}"]


def test_a_proxy_that_fails_is_a_service_error_that_never_suggests_cleartext(
    runner: RecordingRunner, proxy_log: ForwardProxy
) -> None:
    """HTTPS to a host the proxy cannot reach goes by CONNECT; the 502 is exit 4, and the
    sentence never offers --allow-insecure-transport."""
    env = {
        **proxy_log.environment(),
        "SPATIAFI_CLIENT_ID": "0c1e0001-0000-4000-8000-000000000001",
        "SPATIAFI_CLIENT_SECRET": "s" * 43,
        "SPATIAFI_DEADLINE": "3",
    }
    result = runner.run(["--auth-url", "https://auth.example.com", "token", "--no-cache"], env=env)
    assert result.exit_code == 4, result.stderr
    assert "--allow-insecure-transport" not in result.stderr
    assert "CONNECT auth.example.com:443" in proxy_log.requests()
    assert json_lines(result.stderr)[-1]["event"] == "error"


def test_make_demo_runs_behind_the_proxy(proxy_log: ForwardProxy) -> None:
    """examples/demo.py (make demo) with HTTP(S)_PROXY set and no NO_PROXY: exit 0."""
    env = {**os.environ, **proxy_log.environment()}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    record_output(done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert proxy_log.requests() == []
