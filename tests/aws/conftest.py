"""
AWS fixtures: moto's stand-alone server for the session, an AWS environment that points at
it (never the machine's ~/.aws), and a scripted AWS endpoint for failures moto cannot make.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._models import AppCredentials, Payload
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.aws import moto_server

REGION = "eu-west-1"


@pytest.fixture(scope="session", name="moto_url")
def _moto_url() -> Iterator[str]:
    """
    The URL of moto's server, one process for the whole session.
    """
    process, url = moto_server.start()
    yield url
    moto_server.stop(process)


def use_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """
    Point the AWS configuration at *endpoint* with dummy credentials, away from ~/.aws.
    """
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    # No instance metadata service: the credential chain would try 169.254.169.254.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTINGONLY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-only-not-a-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture(name="aws")
def _aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """
    An AWS environment pointing at moto's server; returns its URL.
    """
    use_aws(monkeypatch, tmp_path, moto_url)
    return moto_url


@pytest.fixture(name="secret_name")
def _secret_name() -> str:
    """
    A secret name no other test uses (moto's state lives as long as the session).
    """
    return f"spatiafi/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(name="reader")
def _reader(aws: str) -> Any:
    """
    boto3's own client, to read back what the sink wrote (boto3 is untyped: Any).
    """
    import boto3

    return boto3.session.Session().client("secretsmanager")


def payload_for(
    client: Mapping[str, str] | AppCredentials,
    *,
    emulator: EmulatorHandle | None = None,
    previous: str | None = None,
) -> Payload:
    """
    Return the payload publishing *client*: made up, or the emulator's (a mapping or
    ``AppCredentials``, by version of ``create_client()``).
    """
    if isinstance(client, AppCredentials):
        client = {k: v for k, v in client._asdict().items() if isinstance(v, str)}
    credentials = AppCredentials(
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        user_id=client.get("user_id"),
        created_at=1_790_000_000.0,
        auth_url=emulator.url if emulator is not None else None,
    )
    return Payload("default", credentials, previous)


def new_client(n: int) -> dict[str, str]:
    """
    Return the *n*-th made-up client (a UUID id and a secret of the service's length).
    """
    return {
        "user_id": "00000000-0000-4000-8000-00000000beef",
        "client_id": f"0c1e0001-0000-4000-8000-{n:012d}",
        "client_secret": f"made-up-secret-{n:04d}-" + "x" * 24,
    }


class ScriptedAws:
    """
    An AWS JSON-protocol endpoint on 127.0.0.1 that gives every request one scripted
    answer and counts them: AWS outages, throttling and refusals cannot be made real,
    and moto counts nothing.
    """

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = [(200, {})]
        self.targets: list[str] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                scripted.targets.append(self.headers.get("X-Amz-Target", ""))
                answers = scripted.answers
                status, body = answers.pop(0) if len(answers) > 1 else answers[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def answer(self, *answers: tuple[int, dict[str, Any]]) -> None:
        """
        Give these answers in turn, the last one from then on; forget past requests.
        """
        self.answers = list(answers)
        self.targets.clear()

    def error(self, status: int, code: str) -> None:
        self.answer(error(status, code))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def error(status: int, code: str) -> tuple[int, dict[str, Any]]:
    """
    Return an AWS JSON-protocol error answer.
    """
    return status, {"__type": code, "message": f"scripted {code}"}


@pytest.fixture(name="scripted_aws")
def _scripted_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ScriptedAws]:
    """
    A scripted AWS endpoint, with the AWS environment pointing at it.
    """
    scripted = ScriptedAws()
    use_aws(monkeypatch, tmp_path, scripted.url)
    yield scripted
    scripted.close()


@pytest.fixture(name="closed_port_url")
def _closed_port_url() -> Iterator[str]:
    """
    A URL on 127.0.0.1 whose port is bound but not listening: connections are refused.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(name="store_service")
def _store_service(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
    aws: str,
    secret_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> EmulatorHandle:
    """
    A dedicated emulator, the login, AWS at moto's server and SPATIAFI_STORE naming a
    new secret.
    """
    handle = spatiafi_emulator_factory()
    monkeypatch.setenv("SPATIAFI_AUTH_URL", handle.url)
    monkeypatch.setenv("SPATIAFI_USERNAME", DEFAULT_EMAIL)
    monkeypatch.setenv("SPATIAFI_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("SPATIAFI_STORE", f"aws-secretsmanager:{secret_name}")
    return handle
