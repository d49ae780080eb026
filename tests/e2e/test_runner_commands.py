"""
No output of ours carries a command a GitHub runner would obey, whatever text a server or a
file put in it: the ``::name::`` form at the start of a line and the legacy ``##[name]``
anywhere in a line (actions/runner: src/Runner.Common/ActionCommand.cs, ``TryParseV2`` and
``TryParse``), in every log format, in stdout JSON and in ``credentials show``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._api import CLIENTS_PATH, create_client
from spatiafi_ops._models import AccessToken
from tests.conftest import RecordingRunner
from tests.hostile_server import Behaviour, HostileServer, json_answer

CLIENT_ID = "0c1e0001-0000-4000-8000-00000000000a"
WRONG_SECRET = "w" * 43
INJECTED = "x ##[stop-commands]tok ##[add-mask]oops"
# Our own commands: annotations and debug lines (the github format) and masks.
OURS = {"error", "warning", "debug", "add-mask"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def runner_commands(output: str) -> list[str]:
    """
    Return the commands the runner would find in *output*: ``::name::`` lines, and every
    ``##[name`` anywhere in a line, the latter as ``##[name``.
    """
    found = []
    for line in _LINE_BREAK.split(output):
        stripped = line.lstrip()
        if stripped.startswith("::") and "::" in stripped[2:]:
            found.append(stripped[2:].partition("::")[0].partition(" ")[0].lower())
        found += [f"##[{match}" for match in re.findall(r"##\[([^\]\s]*)", line)]
    return found


class _Hostile(BaseHTTPRequestHandler):
    """Answers every request with a 400 whose detail holds runner commands."""

    def do_POST(self) -> None:
        body = json.dumps({"detail": f"{INJECTED}\n::stop-commands::tok2"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="hostile_url")
def _hostile_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("log_format", ["json", "console", "github"])
def test_no_log_format_carries_a_servers_runner_command(
    runner: RecordingRunner, hostile_url: str, log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under Actions at debug level (RUNNER_DEBUG=1), a server's `##[stop-commands]` reaches
    stderr written out, in json, console and github alike; the text is still readable."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    env = {
        "SPATIAFI_AUTH_URL": hostile_url,
        "SPATIAFI_CLIENT_ID": CLIENT_ID,
        "SPATIAFI_CLIENT_SECRET": WRONG_SECRET,
        "SPATIAFI_LOG_FORMAT": log_format,
        "RUNNER_DEBUG": "1",
    }
    result = runner.run(["token", "--no-cache"], env=env)
    assert result.exit_code == 4
    assert "stop-commands" in result.stderr  # shown, not obeyed
    assert set(runner_commands(result.stderr)) <= OURS, result.stderr
    if log_format == "json":  # the same text once parsed
        assert any(INJECTED in str(json.loads(line)) for line in result.stderr.splitlines())


def test_credentials_show_and_result_json_carry_no_runner_command(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """A user id from a file reaches stdout JSON (the import result, `credentials show`)
    with `##[` escaped: the same JSON value, no command."""
    body = {"client_id": CLIENT_ID, "client_secret": WRONG_SECRET, "user_id": INJECTED}
    imported = runner.run(["credentials", "import", "-"], input=json.dumps(body))
    assert imported.exit_code == 0, imported.stderr
    shown = runner.run(["credentials", "show"])
    assert shown.exit_code == 0, shown.stderr
    assert runner_commands(imported.stdout + shown.stdout) == []
    assert json.loads(shown.stdout)["user_id"] == INJECTED


def test_a_user_id_from_the_service_is_validated_where_it_enters(
    serve: Callable[[dict[str, Behaviour]], HostileServer],
) -> None:
    """A created client's user_id that is not an identifier is not kept."""
    from spatiafi_ops._http import Deadline, HttpClient

    body = {"client_id": CLIENT_ID, "client_secret": WRONG_SECRET, "user_id": INJECTED}
    server = serve({CLIENTS_PATH: json_answer(201, body)})
    user = AccessToken(value="user.token.value", token_type="bearer", expires_at=4e9)
    created = create_client(HttpClient(timeout=5, deadline=Deadline(10)), server.url, user)
    assert created.user_id is None
