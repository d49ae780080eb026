"""
Logs that fit where they land: JSON-only stderr in ``json`` (the final error included),
click's ``Error:`` line in ``console``, workflow commands in ``github`` (read with the
runner-faithful parser), ``RUNNER_DEBUG``, and the emulator on the same configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.actions.workflow_commands import Annotation, Log
from tests.conftest import RecordingRunner, final_error, json_lines, record_output
from tests.e2e.conftest import create_credentials

CLIENT_ID = "0c1e0001-0000-4000-8000-00000000000a"
WRONG_SECRET = "w" * 43


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["token"], {}, 5),
        (["frobnicate"], {}, 2),
        (["token", "--format", "yaml"], {}, 2),
        (["--timeout", "-1", "--log-format", "json", "token"], {"SPATIAFI_LOG_FORMAT": None}, 2),
        (["--log-format", "yaml", "token"], {"SPATIAFI_LOG_FORMAT": None}, 2),
        (["--log-level", "loud", "token"], {}, 2),
        (
            ["--log-level", "debug", "token"],
            {"SPATIAFI_CLIENT_ID": CLIENT_ID, "SPATIAFI_CLIENT_SECRET": WRONG_SECRET},
            3,
        ),
    ],
)
def test_json_stderr_is_json_lines_to_the_final_error(
    runner: RecordingRunner,
    service: EmulatorHandle,
    args: list[str],
    env: dict[str, str | None],
    code: int,
) -> None:
    """Every stderr line parses, usage errors included; the last is the error event."""
    result = runner.run(args, env=env)
    assert result.exit_code == code, result.stderr
    error = final_error(result.stderr)
    assert error["exit_code"] == code
    assert error["message"]
    assert "\n" not in error["message"]


def test_json_stderr_of_a_successful_debug_run_is_json_lines(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """Our events and the libraries' stdlib records (urllib3 at debug) alike."""
    result = runner.run(["--log-level", "debug", "credentials", "create"])
    assert result.exit_code == 0, result.stderr
    events = json_lines(result.stderr)
    assert "create_finished" in {event["event"] for event in events}
    assert any(event.get("logger", "").startswith("urllib3") for event in events)


def test_console_keeps_clicks_error_line(runner: RecordingRunner, service: EmulatorHandle) -> None:
    """One ``Error:`` sentence; usage errors with click's usage lines."""
    failed = runner.run(["--log-format", "console", "token"])
    assert failed.exit_code == 5
    assert failed.stderr.startswith("Error: no credentials stored")
    assert failed.stderr.count("\n") == 1
    usage = runner.run(["--log-format", "console", "token", "--format", "yaml"])
    assert usage.exit_code == 2
    assert usage.stderr.startswith("Usage: ")
    assert usage.stderr.splitlines()[-1].startswith("Error: Invalid value for '--format'")


def github_log(result: Any) -> Log:
    log = Log()
    log.feed(result.stderr)
    return log


@pytest.fixture(name="github_actions")
def _github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a GitHub Actions step (no explicit --log-format)."""
    monkeypatch.delenv("SPATIAFI_LOG_FORMAT")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")


@pytest.mark.usefixtures("github_actions")
def test_github_errors_are_one_error_annotation(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """auto is github in Actions: the failure is one ::error:: annotation, nothing else."""
    result = runner.run(["token"])
    assert result.exit_code == 5
    log = github_log(result)
    assert log.commands == ["error"]
    (annotation,) = log.annotations
    assert annotation.level == "error"
    assert annotation.message.startswith("no credentials stored for profile 'default'")


@pytest.mark.usefixtures("github_actions")
def test_github_warnings_info_and_debug(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Warnings annotate, info is a plain line, debug needs RUNNER_DEBUG=1."""
    created = runner.run(["credentials", "create"])
    assert created.exit_code == 0, created.stderr
    log = github_log(created)
    assert log.commands == []
    assert any(line.startswith("create_finished ") for line in log.lines), log.lines
    (clean_environment["config"] / "app_credentials.json").chmod(0o644)
    allowed = runner.run(["--allow-insecure-permissions", "token", "--no-cache"])
    assert allowed.exit_code == 0, allowed.stderr
    log = github_log(allowed)
    assert log.commands == ["warning"]
    assert log.annotations[0].message.startswith("insecure_permissions_allowed path=")
    debugged = runner.run(
        ["--allow-insecure-permissions", "token", "--no-cache"], env={"RUNNER_DEBUG": "1"}
    )
    assert debugged.exit_code == 0, debugged.stderr
    assert "debug" in github_log(debugged).commands


def test_runner_debug_turns_debug_on_in_any_format(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """A job re-run with debug logging logs at debug whatever --log-level says."""
    create_credentials(runner)
    result = runner.run(["--log-level", "error", "token", "--no-cache"], env={"RUNNER_DEBUG": "1"})
    assert result.exit_code == 0, result.stderr
    assert "token_minted" in {event["event"] for event in json_lines(result.stderr)}


class HostileHandler(BaseHTTPRequestHandler):
    """Answers every request with a 400 whose detail tries to inject workflow commands."""

    DETAIL = "bad %0A::stop-commands::tok ##[add-mask]oops \x1b[31mred\r\n::error::fake"

    def do_POST(self) -> None:
        body = json.dumps({"detail": self.DETAIL}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="hostile_url")
def _hostile_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("github_actions")
def test_github_annotations_cannot_be_turned_into_other_commands(
    runner: RecordingRunner, hostile_url: str
) -> None:
    """A server's text is escaped: one annotation, no mask, no stop-commands, no ESC."""
    env = {
        "SPATIAFI_AUTH_URL": hostile_url,
        "SPATIAFI_CLIENT_ID": CLIENT_ID,
        "SPATIAFI_CLIENT_SECRET": WRONG_SECRET,
    }
    result = runner.run(["--log-level", "debug", "token", "--no-cache"], env=env)
    assert result.exit_code == 4
    log = github_log(result)
    assert log.commands[-1] == "error"
    assert set(log.commands) <= {"debug", "error"}
    assert log.masks == set()
    assert "\x1b" not in result.stderr
    annotation = log.annotations[-1]
    assert "bad %0A::stop-commands::tok #%23[add-mask]oops" in annotation.message


def test_the_emulator_logs_through_the_same_configuration(service: EmulatorHandle) -> None:
    """`emulator serve` with --log-format json: JSON access lines on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", "--log-format", "json", "emulator", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        login = requests.get(
            f"{url}/api/v1/auth/jwt/token/basic", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD), timeout=10
        )
        assert login.status_code == 200
    finally:
        process.terminate()  # SIGTERM; TerminateProcess on Windows, after the lines are out
        _, stderr = process.communicate(timeout=30)
    record_output(stderr)
    events = json_lines(stderr)
    access = [event for event in events if event.get("logger") == "spatiafi_ops.emulator"]
    assert "GET /api/v1/auth/jwt/token/basic 200" in {event["event"] for event in access}
    assert {event["level"] for event in access} == {"info"}


def test_an_annotation_round_trips_percent_signs_and_lines() -> None:
    """Escaping is the toolkit's (%25 first), so the runner shows the message as written."""
    import io

    import structlog

    from spatiafi_ops import _logging

    stream = io.StringIO()
    _logging.configure(log_format="github", level="debug", stream=stream, environ={})
    try:
        log = structlog.get_logger()
        log.warning("odd_value_seen", value="50%off %0A")
        log.info("::add-mask::not-a-command", detail="##[stop-commands]tok")
        log.debug("checked", step=1)
    finally:
        structlog.reset_defaults()
    parsed = Log()
    parsed.feed(stream.getvalue())
    assert parsed.commands == ["warning", "debug"]
    assert parsed.annotations == [Annotation("warning", "odd_value_seen value='50%off %0A'", {})]
    assert len(parsed.lines) == 2  # the warning's echo and the info line, not a command
    assert parsed.masks == set()
