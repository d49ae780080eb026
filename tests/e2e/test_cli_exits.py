"""
How a CLI process ends, in real processes: a closed pipe is silent (141), a full disk on
stdout is exit 5, SIGINT 130 and SIGTERM 143 after unwinding (locks free, nothing
half-written), warnings and bugs through the log pipeline, never a raw traceback.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, final_error, json_lines, record_output, record_secret
from tests.e2e.conftest import create_credentials

CLI = [sys.executable, "-m", "spatiafi_ops"]
WAIT = 60.0  # bound on waiting for a child to reach a state; never a timing assertion


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    proc = subprocess.run(
        [*CLI, *args], stderr=subprocess.PIPE, text=True, check=False, timeout=120, **kwargs
    )
    record_output(proc.stderr)
    return proc


@pytest.mark.posix("141 is a SIGPIPE death as a shell shows it; Windows pipes have no SIGPIPE")
def test_a_closed_pipe_on_stdout_is_silent_and_exits_141(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """`spatiafi-ops token | head -c0`: no message, the status a shell gives SIGPIPE."""
    create_credentials(runner)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the token is written
    try:
        proc = run(["token"], stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""


@pytest.mark.skipif(
    not (os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode)),
    reason="no /dev/full character device",
)
def test_a_full_disk_on_stdout_exits_5_with_one_sentence(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """stdout on /dev/full (ENOSPC): exit 5, one JSON error event, no traceback."""
    create_credentials(runner)
    with open("/dev/full", "w") as full:  # writes fail with ENOSPC; nothing is stored
        proc = run(["token"], stdout=full)
    assert proc.returncode == 5
    assert "No space left on device" in final_error(proc.stderr)["message"]


@pytest.mark.posix("RLIMIT_FSIZE (ulimit -f)")
def test_a_file_size_limit_on_stdout_exits_5(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path
) -> None:
    """stdout to a file under `ulimit -f 0` (EFBIG): exit 5, the file stays empty."""
    import resource

    create_credentials(runner)

    def no_file_growth() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    target = tmp_path / "token.txt"
    with target.open("w") as out:
        proc = run(["token"], stdout=out, preexec_fn=no_file_growth)
    assert proc.returncode == 5
    assert "File too large" in final_error(proc.stderr)["message"]
    assert target.read_bytes() == b""


# `python -m spatiafi_ops` with SIGINT and SIGTERM as a shell gives a foreground command.
# Ignored dispositions are inherited: a suite started in the background of a shell without
# job control, or under nohup, ignores SIGINT, and so would the CLI (cli/_boundary.py keeps
# an ignored signal ignored), which then ran on to its deadline and exited 4, not 130.
# (Reset in the child itself, not in a preexec_fn: this process runs threads.)
IN_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); "
    "runpy.run_module('spatiafi_ops', run_name='__main__', alter_sys=True)",
]


def start_and_wait(
    args: list[str], service: EmulatorHandle, route: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """
    Start the CLI and return once the emulator holds its *route* request (latency fault),
    that is, once the CLI has installed its signal handlers and is waiting on the service.
    """
    before = service.count(route)
    process = subprocess.Popen(
        [*IN_A_TERMINAL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )
    deadline = time.monotonic() + WAIT
    while service.count(route) == before:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the CLI never reached {route}: {process.communicate()}")
        time.sleep(0.05)
    return process


def interrupt_while_waiting(
    args: list[str], service: EmulatorHandle, route: str, signum: signal.Signals
) -> str:
    """
    Run the CLI until its *route* request hangs, send *signum*, and return its stderr after
    checking what every signalled run shows: 128 + the signal, nothing on stdout, and the
    signal named in the final error.
    """
    service.set_faults(Fault(route=route, kind="latency", latency=30))
    process = start_and_wait(args, service, route)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=WAIT)
    record_output(stderr)
    assert process.returncode == 128 + signum
    assert stdout == ""
    assert f"stopped by {signum.name}" in final_error(stderr)["message"]
    return stderr


@pytest.mark.posix("sends SIGINT; Windows has only console control events")
def test_sigint_exits_130_with_one_sentence(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    """Ctrl-C while the token request hangs: 130, "stopped by SIGINT", not "Aborted!"."""
    create_credentials(runner)
    stderr = interrupt_while_waiting(["token", "--no-cache"], service, "token", signal.SIGINT)
    assert "Aborted" not in stderr


@pytest.mark.posix("sends SIGTERM; on Windows it is TerminateProcess, which nothing can catch")
def test_sigterm_exits_143_and_leaves_the_profile_usable(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """SIGTERM during a create: 143, nothing written; the lock is free for the next run."""
    interrupt_while_waiting(["credentials", "create"], service, "basic", signal.SIGTERM)
    config = clean_environment["config"]
    left = [p.name for p in config.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert left == []
    service.clear_faults()
    created = create_credentials(runner)  # neither "lock held" nor a half-made profile
    assert created["action"] == "created"


def test_python_warnings_go_through_the_log_pipeline(service: EmulatorHandle) -> None:
    """joserfc's key-size SecurityWarning for a short secret: a JSON event, not raw text."""
    client = service.create_client()
    client_id = client["client_id"] if isinstance(client, dict) else client.client_id
    short_secret = "short-secret"  # 12 bytes: HMAC keys under 112 bits are warned about
    record_secret(short_secret)
    proc = run(
        ["token", "--no-cache"],
        env={**os.environ, "SPATIAFI_CLIENT_ID": client_id, "SPATIAFI_CLIENT_SECRET": short_secret},
    )
    assert proc.returncode == 3, proc.stderr
    events = json_lines(proc.stderr)
    (warning,) = [event for event in events if event["event"] == "python_warning"]
    assert warning["category"] == "SecurityWarning"
    assert warning["level"] == "warning"


# A crash point: the profile check raises what no code expects (a bug), inside click's
# own parameter processing. Mocked because a real bug cannot be summoned on purpose.
CRASH = """
import sys
import spatiafi_ops.credentials._store as store
def crash(name):
    raise RuntimeError("crash point")
store.validate_profile_name = crash
from spatiafi_ops.cli import main
sys.argv = ["spatiafi-ops", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("log_format", ["json", "console", "github"])
def test_a_bug_is_one_sentence_and_exit_1_without_debug(log_format: str) -> None:
    """No traceback, in any format; the sentence says how to get one."""
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, "--log-format", log_format, "token"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    record_output(proc.stderr)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "unexpected internal error (RuntimeError: crash point)" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_a_bug_at_debug_level_has_its_traceback_in_the_log() -> None:
    """--log-level debug: the traceback is a field of a JSON event, then the error event."""
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, "--log-format", "json", "--log-level", "debug", "token"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    record_output(proc.stderr)
    assert proc.returncode == 1
    events = json_lines(proc.stderr)
    (bug,) = [event for event in events if event["event"] == "internal_error"]
    assert bug["exception"][0]["exc_type"] == "RuntimeError"
    assert events[-1]["exit_code"] == 1


def test_a_failing_scrubber_still_ends_with_the_documented_code() -> None:
    """scrub() cannot raise: broken inside, it hides every text, and the exit code holds."""
    script = (
        "import sys\n"
        "import spatiafi_ops._redaction as redaction\n"
        "def broken(text):\n"
        "    raise MemoryError('scrubber broke')\n"
        "redaction._scrub = broken\n"
        "from spatiafi_ops.cli import main\n"
        "sys.argv = ['spatiafi-ops', 'token']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    record_output(proc.stderr)
    assert proc.returncode == 5
    (event,) = json_lines(proc.stderr)  # every text field fails closed
    assert event["exit_code"] == 5
    assert event["message"] == "**redacted**"
