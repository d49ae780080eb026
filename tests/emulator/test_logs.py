"""
The emulator logs through stdlib logging, never configures it, and gives each request one
access record whose fields a structured renderer can show as fields.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest
import requests

from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.platforms import bare_environment

from .emulator_testlib import raw_exchange

LOGGER = "spatiafi_ops.emulator"


def _access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """
    Return the attributes of each access record (those with a ``duration_ms`` field).
    """
    return [vars(r) for r in caplog.records if r.name == LOGGER and "duration_ms" in vars(r)]


def test_access_records_carry_structured_fields(
    emulator: EmulatorHandle, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    """
    method, path (no query), status and duration_ms are record attributes, and the message
    says the same in words.
    """
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.clear()
    http.get(emulator.basic_url + "?password=hunter2", timeout=10)
    (record,) = _access_records(caplog)
    fields = {name: record[name] for name in ("method", "path", "status")}
    assert fields == {"method": "GET", "path": "/api/v1/auth/jwt/token/basic", "status": 401}
    assert isinstance(record["duration_ms"], float)
    assert record["duration_ms"] >= 0
    assert "fault" not in record
    assert record["levelno"] == logging.INFO
    assert record["msg"] % record["args"] == "GET /api/v1/auth/jwt/token/basic 401"
    assert "hunter2" not in caplog.text


def test_faults_and_stdlib_refusals_are_logged_with_their_outcome(
    emulator: EmulatorHandle, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    """
    A status fault logs its status and kind; a dropped connection logs status None; a
    request the stdlib refused (414) logs its status with no method or path.
    """
    emulator.set_faults(Fault(route="me", status=503, times=1), Fault(route="basic", kind="drop"))
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.clear()
    http.get(emulator.url + "/api/v1/users/me", timeout=10)
    with pytest.raises(requests.ConnectionError):
        http.get(emulator.basic_url, timeout=10)
    raw_exchange(emulator.url, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    outcomes = [
        (r["method"], r["path"], r["status"], r.get("fault")) for r in _access_records(caplog)
    ]
    assert outcomes == [
        ("GET", "/api/v1/users/me", 503, "status"),
        ("GET", "/api/v1/auth/jwt/token/basic", None, "drop"),
        ("-", "-", 414, None),
    ]


def test_the_emulator_never_configures_logging() -> None:
    """
    In a program that configured nothing, serving requests (odd ones included) adds no
    handler that writes anywhere, and nothing reaches stdout or stderr.
    """
    code = """
import json, logging, socket, urllib.request
from spatiafi_ops.emulator import running

with running() as handle:
    for path in ("/api/v1/auth/jwt/token/basic", "/nope", "/_emulator/counters"):
        try:
            urllib.request.urlopen(handle.url + path, timeout=10).read()
        except OSError:
            pass
    host, port = handle.url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.1\\r\\n\\r\\n")
        while sock.recv(65536):
            pass
emulator = logging.getLogger("spatiafi_ops.emulator")
state = {
    "handlers": [type(h).__name__ for h in emulator.handlers],
    "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers],
    "level": emulator.level,
    "propagate": emulator.propagate,
}
print(json.dumps(state))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=bare_environment(NO_PROXY="*"),
    )
    assert result.stderr == ""
    # A NullHandler is what a library adds (it only keeps stdlib's last resort quiet).
    assert json.loads(result.stdout) == {
        "handlers": ["NullHandler"],
        "root_handlers": [],
        "level": logging.NOTSET,
        "propagate": True,
    }
