"""
``spatiafi-ops emulator serve``: URL first on stdout, flags honoured, clean SIGTERM/SIGINT.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from spatiafi_ops.cli._emulator import emulator as emulator_group
from spatiafi_ops.emulator import EmulatorHandle

from .emulator_testlib import DEFAULT_EMAIL, DEFAULT_PASSWORD, basic, raw_exchange


def _command() -> list[str]:
    script = Path(sys.executable).with_name("spatiafi-ops")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "spatiafi_ops"]


@contextmanager
def _serving(*flags: str) -> Iterator[tuple[subprocess.Popen[str], EmulatorHandle]]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [*_command(), "emulator", "serve", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield process, EmulatorHandle(url)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.posix("a clean stop on SIGTERM; on Windows it is TerminateProcess")
def test_serve_prints_url_first_and_stops_on_sigterm(http: requests.Session) -> None:
    """
    The first stdout line is the base URL; logs go to stderr; SIGTERM exits 0.
    """
    with _serving() as (process, handle):
        response = http.get(handle.basic_url, auth=("null@example.com", "example_password123"))
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0
        assert out == ""  # nothing after the URL line
        assert "GET /api/v1/auth/jwt/token/basic 200" in err
        assert "example_password123" not in err


@pytest.mark.posix("sends SIGINT; Windows has only console control events")
def test_serve_exits_cleanly_on_sigint() -> None:
    """
    Ctrl-C (SIGINT) stops the server without a traceback.
    """
    with _serving("--no-access-log") as (process, _handle):
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "Traceback" not in err


def test_serve_flags_reach_the_emulator(http: requests.Session) -> None:
    """
    --fault, --latency, --seed, --user, --inactive-user, --no-client-management,
    --no-default-user all shape the running emulator.
    """
    flags = [
        "--seed=7",
        "--fault=route=token,status=429,retry_after=2,times=1",
        "--latency=basic=0.01",
        "--user=alice@example.com:pw:with:colons",
        "--inactive-user=bob@example.com:pw-b",
        "--no-client-management",
        "--no-default-user",
    ]
    with _serving(*flags) as (_process, handle):
        faults = handle.faults()
        assert faults["seed"] == 7
        assert [(f["route"], f["kind"]) for f in faults["faults"]] == [
            ("GET /api/v1/auth/jwt/token/basic", "latency"),
            ("POST /api/v1/auth/jwt/token", "status"),
        ]
        response = http.post(handle.token_url, timeout=10)
        assert (response.status_code, response.headers["retry-after"]) == (429, "2")
        login = {"Authorization": basic("alice@example.com", "pw:with:colons")}
        assert http.get(handle.basic_url, headers=login, timeout=10).status_code == 200
        login = {"Authorization": basic("bob@example.com", "pw-b")}
        assert http.get(handle.basic_url, headers=login, timeout=10).status_code == 400
        login = {"Authorization": basic("null@example.com", "example_password123")}
        assert http.get(handle.basic_url, headers=login, timeout=10).status_code == 400
        assert http.get(handle.clients_url, timeout=10).status_code == 405


def test_serve_seeds_a_non_latin1_user_who_logs_in_with_utf8_basic() -> None:
    """
    --user with a password outside Latin-1; a hand-built UTF-8 Basic header logs in.
    """
    password = "пароль-密码"
    with _serving(f"--user=ким@example.com:{password}") as (_process, handle):
        credentials = base64.b64encode(f"ким@example.com:{password}".encode()).decode("ascii")
        reply = raw_exchange(
            handle.url,
            b"GET /api/v1/auth/jwt/token/basic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Basic " + credentials.encode("ascii") + b"\r\n\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply[:300]
        assert b'"access_token"' in reply


def test_serve_is_strict_unless_lenient_client_auth(http: requests.Session) -> None:
    """
    Without the flag the password grant is refused; with --lenient-client-auth it works.
    """
    grant = {"grant_type": "password", "username": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD}
    with _serving("--no-access-log") as (_process, strict):
        response = http.post(strict.token_url, data=grant, timeout=10)
        assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")
    with _serving("--no-access-log", "--lenient-client-auth") as (_process, lenient):
        assert lenient.info()["lenient_client_auth"] is True
        assert http.post(lenient.token_url, data=grant, timeout=10).status_code == 200


def test_serve_clock_offset(http: requests.Session) -> None:
    """
    --clock-offset -600 (a negative value as a separate argument) runs the clock behind.
    """
    with _serving("--no-access-log", "--clock-offset", "-600") as (_process, handle):
        assert handle.clock_offset() == -600
        date = http.get(handle.basic_url, timeout=10).headers["date"]
        assert abs(parsedate_to_datetime(date).timestamp() - (time.time() - 600)) < 30


def test_port_in_use_exits_5_naming_the_port() -> None:
    """
    A busy port is one Error: line naming it and exit 5 (local state), not a traceback.
    """
    with _serving() as (_process, handle):
        port = handle.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [*_command(), "emulator", "serve", "--port", port],
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
    assert result.returncode == 5, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def _binds_only_local_addresses() -> bool:
    """
    Whether binding an address this machine does not have fails (Linux may allow it).
    """
    setting = Path("/proc/sys/net/ipv4/ip_nonlocal_bind")
    return not setting.exists() or setting.read_text().strip() == "0"


@pytest.mark.skipif(not _binds_only_local_addresses(), reason="ip_nonlocal_bind is on")
def test_an_address_not_on_this_machine_exits_2() -> None:
    """
    A --host this machine cannot bind is a usage error (exit 2) in one sentence.

    192.0.2.1 is TEST-NET-1 (RFC 5737), never this machine's: binding fails locally and
    nothing is sent (a name is not tried here: resolving it could leave the machine).
    """
    result = subprocess.run(
        [*_command(), "emulator", "serve", "--host", "192.0.2.1", "--port", "0"],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "--host 192.0.2.1 is not an address of this machine" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--fault=route=nowhere", "not a route"),
        ("--fault=status=abc", "not valid"),
        ("--latency=token=slow", "[ROUTE=]SECONDS"),
        ("--user=no-colon", "EMAIL:PASSWORD"),
        ("--port=70000", "70000"),
        ("--clock-offset=nan", "clock offset"),
        ("--clock-offset=1e12", "clock offset"),
    ],
)
def test_bad_flags_are_usage_errors(flag: str, message: str) -> None:
    """
    Flag errors exit 2 (click's usage error) naming the problem, before binding anything.
    """
    result = CliRunner().invoke(emulator_group, ["serve", flag])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_group_help_lists_serve() -> None:
    """
    The emulator group is a click group with a serve command.
    """
    result = CliRunner().invoke(emulator_group, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
