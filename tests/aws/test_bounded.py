"""
AWS calls keep the SpatiaFi transport's bounds: the remaining --deadline over headers and
body of every attempt, a body cap, no cleartext beyond loopback, and no secret in botocore's
debug lines. Against hostile endpoints on 127.0.0.1 (tests/hostile_server.py) and moto.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spatiafi_ops._aws import SecretsManagerSink, SecretsManagerSource
from spatiafi_ops._config import Settings
from spatiafi_ops._errors import InsecureTransport, SecretStoreRefused, SecretStoreUnavailable
from spatiafi_ops._redaction import register_secret
from spatiafi_ops.sinks._publish import parse_sink
from tests.aws.conftest import new_client, payload_for, use_aws
from tests.conftest import RecordingRunner, record_secret
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    chunked,
    head,
    huge_body,
    trickle_body,
    trickle_headers,
)

NAME = "spatiafi/bounded"
DEADLINE = 3.0
# Bytes a second, for longer than any deadline here: per-read timeouts never trip.
TRICKLES = {
    "headers": trickle_headers(0.5, 200, head(200) + b"{}"),
    "body": trickle_body(0.5, b'{"SecretString": "' + b"x" * 200 + b'"}'),
    "endless": chunked(b'{"SecretString": "', b"x" * 65536, None, b'"}'),
    "huge": huge_body(3 << 30, b'{"SecretString": "'),
}


@pytest.fixture(name="hostile_aws")
def _hostile_aws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[[Behaviour], HostileServer]]:
    servers: list[HostileServer] = []

    def start(behaviour: Behaviour) -> HostileServer:
        servers.append(HostileServer({"/": behaviour}))
        use_aws(monkeypatch, tmp_path, servers[-1].url)
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("kind", list(TRICKLES))
def test_a_trickling_or_endless_answer_ends_within_the_deadline(
    hostile_aws: Callable[[Behaviour], HostileServer], kind: str
) -> None:
    """The source and the sink give up once the deadline is spent (exit 4), however the
    endpoint drips its headers or body, or sends without end; memory stays bounded."""
    hostile_aws(TRICKLES[kind])
    calls: list[Callable[[], object]] = [
        lambda: SecretsManagerSource(NAME).load(Settings(deadline=DEADLINE, timeout=DEADLINE)),
        lambda: SecretsManagerSink(NAME).publish(payload_for(new_client(1)), timeout=DEADLINE),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(SecretStoreUnavailable):
            call()
        assert time.monotonic() - started < DEADLINE + 3


def test_the_cli_keeps_the_deadline_reading_from_aws(
    hostile_aws: Callable[[Behaviour], HostileServer], runner: RecordingRunner
) -> None:
    """`token --credentials-from aws-secretsmanager:...` against a trickling endpoint."""
    hostile_aws(TRICKLES["headers"])
    started = time.monotonic()
    result = runner.run(
        ["--deadline", "3", "token", "--credentials-from", f"aws-secretsmanager:{NAME}"]
    )
    assert result.exit_code == 4, result.stderr
    assert time.monotonic() - started < DEADLINE + 3


@pytest.mark.parametrize("host", ["192.0.2.10", "aws.example.com", "[2001:db8::1]"])
def test_cleartext_beyond_loopback_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runner: RecordingRunner, host: str
) -> None:
    """An http:// endpoint that is not this machine: refused before a byte is sent (the
    source exit 2, as for the auth URL; the sink is refused, exit 5)."""
    use_aws(monkeypatch, tmp_path, f"http://{host}:8080")
    with pytest.raises(InsecureTransport):
        SecretsManagerSource(NAME).load(Settings(deadline=DEADLINE))
    with pytest.raises(SecretStoreRefused, match="cleartext"):
        SecretsManagerSink(NAME).publish(payload_for(new_client(1)), timeout=DEADLINE)
    result = runner.run(["token", "--credentials-from", f"aws-secretsmanager:{NAME}"])
    assert result.exit_code == 2
    assert "cleartext" in result.stderr


def test_allow_insecure_transport_reaches_the_sink(runner: RecordingRunner) -> None:
    """--allow-insecure-transport is the sink's too (SPATIAFI_PUBLISH or --publish)."""
    sink = parse_sink(f"aws-secretsmanager:{NAME}", allow_insecure_transport=True)
    assert isinstance(sink, SecretsManagerSink)
    assert sink.allow_insecure_transport


# Every character that botocore's log lines escape differently: quote, backslash,
# apostrophe, non-ASCII (JSON's \\uXXXX), percent.
AWKWARD_SECRET = "q\"b\\s'é密%41%-" + "z" * 24


@pytest.fixture(name="debug_log")
def _debug_log() -> Iterator[io.StringIO]:
    from spatiafi_ops import _logging

    stream = io.StringIO()
    _logging.configure(log_format="json", level="debug", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "spatiafi_ops"]:
        root.removeHandler(handler)


def test_botocore_debug_lines_never_hold_the_secret(aws: str, debug_log: io.StringIO) -> None:
    """At debug level (RUNNER_DEBUG=1), publishing and reading a secret that holds `"`,
    `\\`, `'`, non-ASCII and `%` leaves no spelling of it in the log."""
    client = {**new_client(7), "client_secret": AWKWARD_SECRET}
    record_secret(AWKWARD_SECRET)
    register_secret(AWKWARD_SECRET)
    SecretsManagerSink(NAME + "-debug").publish(payload_for(client), timeout=30)
    read = SecretsManagerSource(NAME + "-debug").load(Settings(deadline=30))
    assert read.client_secret == AWKWARD_SECRET
    text = debug_log.getvalue()
    assert text  # debug lines were written
    once = json.dumps(AWKWARD_SECRET)[1:-1]
    spellings = {
        AWKWARD_SECRET,
        once,
        json.dumps(once)[1:-1],
        repr(once)[1:-1],
        repr(json.dumps(once))[1:-1],
        json.dumps(AWKWARD_SECRET, ensure_ascii=False)[1:-1],
        "z" * 24,
    }
    for spelling in spellings:
        assert spelling not in text
