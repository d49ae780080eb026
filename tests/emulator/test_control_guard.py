"""
Who may use the control API: its own Host, no other site's Origin, JSON for every change
(docs/emulator.md, "Who may use it").
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests

from spatiafi_ops.emulator import EmulatorHandle

from .emulator_testlib import JSON, raw_exchange

RESET = json.dumps({"clients": True, "users": True})


def _port(handle: EmulatorHandle) -> int:
    return int(handle.url.rsplit(":", 1)[1])


def _unchanged(handle: EmulatorHandle, client_id: str) -> None:
    assert [c["client_id"] for c in handle.clients()] == [client_id]


def test_a_cross_site_text_plain_post_is_refused(
    emulator: EmulatorHandle, http: requests.Session
) -> None:
    """
    The form post a web page may send anywhere without a preflight changes nothing.
    """
    client_id = emulator.create_client().client_id
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {} if content_type is None else {"Content-Type": content_type}
        answer = http.post(emulator.control_url + "/reset", data=RESET, headers=headers)
        assert answer.status_code == 415, answer.text
        assert answer.json() == {"detail": "the control API takes Content-Type: application/json"}
        assert answer.headers["x-emulator"] == "not-part-of-the-real-service"
    _unchanged(emulator, client_id)


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",
        "attacker.example",
        "127.0.0.1",
        "127.0.0.1:1",
        "localhost.attacker.example:{port}",
        "attacker.example@127.0.0.1:{port}",
        "",
    ],
)
def test_a_foreign_host_is_refused(emulator: EmulatorHandle, host: str) -> None:
    """
    DNS rebinding sends the attacker's name as Host: every control route refuses it.
    """
    client_id = emulator.create_client().client_id
    host_line = f"Host: {host.format(port=_port(emulator))}\r\n".encode() if host else b""
    for method, path, body in [("POST", "/reset", RESET), ("GET", "/clients", "")]:
        reply = raw_exchange(
            emulator.url,
            f"{method} /_emulator{path} HTTP/1.1\r\n".encode()
            + host_line
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body.encode(),
        )
        assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n"), reply[:200]
        assert b"is not this emulator's address" in reply
    _unchanged(emulator, client_id)


@pytest.mark.parametrize(
    "origin",
    ["https://attacker.example", "http://attacker.example:{port}", "null", "http://127.0.0.1:1"],
)
def test_a_foreign_origin_is_refused(
    emulator: EmulatorHandle, http: requests.Session, origin: str
) -> None:
    """
    A request from another site's page is refused, even as JSON.
    """
    client_id = emulator.create_client().client_id
    headers = {**JSON, "Origin": origin.format(port=_port(emulator))}
    answer = http.post(emulator.control_url + "/reset", data=RESET, headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json() == {"detail": "the control API refuses requests from another origin"}
    _unchanged(emulator, client_id)


@pytest.mark.parametrize(
    "name", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"]
)
def test_the_emulators_own_names_and_origin_are_served(
    emulator: EmulatorHandle, http: requests.Session, name: str
) -> None:
    """
    Loopback names on the emulator's port, as Host and as Origin, may change state.
    """
    emulator.create_client()
    own = name.format(port=_port(emulator))
    headers = {**JSON, "Host": own, "Origin": f"http://{own}"}
    answer = http.post(emulator.control_url + "/reset", data=RESET, headers=headers)
    assert answer.status_code == 200, answer.text
    assert emulator.clients() == []


def test_the_issuer_name_is_served_and_service_routes_are_untouched(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle], http: requests.Session
) -> None:
    """
    The --issuer host is the emulator's own too; the service routes never check any of it.
    """
    handle = spatiafi_emulator_factory(issuer="http://emulator.test:8000")
    headers = {**JSON, "Host": "emulator.test:8000"}
    answer = http.post(handle.control_url + "/reset", data=RESET, headers=headers)
    assert answer.status_code == 200, answer.text
    foreign = {"Host": "attacker.example", "Origin": "https://attacker.example"}
    assert http.get(handle.basic_url, headers=foreign).status_code == 401


def test_the_handle_meets_every_rule(emulator: EmulatorHandle) -> None:
    """
    EmulatorHandle (and so the pytest fixtures) sends JSON, even on a DELETE without a body.
    """
    client_id = emulator.create_client().client_id
    emulator.set_faults({"route": "token", "status": 503})
    emulator.clear_faults()
    assert emulator.delete_client(client_id) is True
    emulator.reset(clients=True)
