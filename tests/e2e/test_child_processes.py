"""
The programs we start get exactly what they need: no variable credentials were read from,
the caller's core-file limit, the new credentials on stdin only; and a sink is done when its
process exits, whatever it left holding its pipes, with its stderr read in bounded memory.

Real processes throughout: the CLI as a subprocess (its resource limits and its memory are
its own), sh, setsid, and the emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

if sys.platform != "win32":
    import resource

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, record_output, record_secret
from tests.e2e.conftest import create_credentials

pytestmark = pytest.mark.posix("sinks run through /bin/sh; exec replaces the process")

CALLER_CORE = 1 << 20  # a soft core-file limit a caller might set (ulimit -c 2048)
RECORDER = """#!{python}
import json, os, resource, sys
with open(os.environ["RECORD"], "w", encoding="utf-8") as handle:
    json.dump({{"env": dict(os.environ),
               "core": resource.getrlimit(resource.RLIMIT_CORE)[0]}}, handle)
"""
# Prints the most memory any process it waited for used (KiB on Linux), after its command.
MAXRSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], check=False).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def with_caller_core_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (min(CALLER_CORE, hard), hard))


def cli(
    *args: str, env: dict[str, str] | None = None, argv: Sequence[str] = ()
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the entry point (behind *argv*, if given) with the caller's core limit."""
    started = time.monotonic()
    proc = subprocess.run(
        [*argv, sys.executable, "-m", "spatiafi_ops", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=with_caller_core_limit,  # a single-threaded test
    )
    record_output(proc.stderr)
    return proc, time.monotonic() - started


@pytest.fixture(name="stored")
def _stored(runner: RecordingRunner, service: EmulatorHandle) -> dict[str, Any]:
    return create_credentials(runner)


@pytest.fixture(name="recorder")
def _recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "record"
    script.write_text(RECORDER.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record.json"
    monkeypatch.setenv("RECORD", str(record))
    return record


@pytest.mark.parametrize("named_by", ["flag", "variable"])
def test_exec_withholds_every_variable_credentials_were_read_from(
    service: EmulatorHandle, recorder: Path, named_by: str
) -> None:
    """`exec --credentials-from env:NAME` (or SPATIAFI_CREDENTIALS_FROM, how actions/token
    passes it): NAME and the actions' credentials JSON are not in CMD's environment, and CMD
    gets the caller's core-file limit back (ours is 0)."""
    client = service.create_client()
    record_secret(client.client_secret)
    creds = json.dumps({"client_id": client.client_id, "client_secret": client.client_secret})
    env = {**os.environ, "APP_CREDS": creds, "SPATIAFI_ACTION_CREDENTIALS_JSON": creds}
    args = ["exec", "--", "record"]
    if named_by == "flag":
        args = ["exec", "--credentials-from", "env:APP_CREDS", "--", "record"]
    else:
        env["SPATIAFI_CREDENTIALS_FROM"] = "env:APP_CREDS"
    proc, _ = cli(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(recorder.read_text(encoding="utf-8"))
    record_secret(seen["env"]["SPATIAFI_ACCESS_TOKEN"])
    assert "APP_CREDS" not in seen["env"]
    assert "SPATIAFI_ACTION_CREDENTIALS_JSON" not in seen["env"]
    assert client.client_secret not in json.dumps(seen["env"])
    assert seen["core"] == min(CALLER_CORE, resource.getrlimit(resource.RLIMIT_CORE)[1])


def test_a_sink_gets_the_credentials_on_stdin_only_and_the_callers_limits(
    stored: dict[str, Any], tmp_path: Path, clean_environment: dict[str, Path]
) -> None:
    """A command sink's environment holds no credential variable (the actions' JSON, an
    env:NAME source), its stdin the new credentials, its core limit the caller's."""
    old_secret = "consumer-Secret-0123456789-abcdefghijklmn"
    record_secret(old_secret)
    creds = json.dumps({"client_id": stored["client_id"], "client_secret": old_secret})
    probe = tmp_path / "probe"
    limit = f"{sys.executable} -c 'import resource; print(resource.getrlimit(4)[0])'"
    sink = f"command:cat > '{probe}.in'; env > '{probe}.env'; {limit} > '{probe}.core'"
    env = {
        **os.environ,
        "SPATIAFI_ACTION_CREDENTIALS_JSON": creds,
        "SPATIAFI_CREDENTIALS_FROM": "env:APP_CREDS",
        "APP_CREDS": creds,
    }
    proc, _ = cli("credentials", "rotate", "--max-age", "0", "--publish", sink, env=env)
    assert proc.returncode == 0, proc.stderr
    published = json.loads(Path(f"{probe}.in").read_text(encoding="utf-8"))
    record_secret(published["client_secret"])
    environment = Path(f"{probe}.env").read_text(encoding="utf-8")
    for secret in (published["client_secret"], old_secret, os.environ["SPATIAFI_PASSWORD"]):
        assert secret not in environment
    assert "SPATIAFI_ACTION_CREDENTIALS_JSON" not in environment
    assert "APP_CREDS=" not in environment
    assert int(Path(f"{probe}.core").read_text()) == min(
        CALLER_CORE, resource.getrlimit(resource.RLIMIT_CORE)[1]
    )


@contextlib.contextmanager
def killed_afterwards(pid_file: Path) -> Iterator[None]:
    """Kill the process whose pid the sink wrote, whatever the test found."""
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def ended_soon(pid: int) -> bool:
    """
    Return whether *pid* is gone within a bound: a signal is delivered after kill() returns,
    so the group the CLI ended may still be dying (on a loaded machine, for a while).
    """
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.parametrize("detach", ["", "setsid "], ids=["background", "setsid"])
def test_a_sink_is_done_when_its_process_exits(
    stored: dict[str, Any], tmp_path: Path, detach: str
) -> None:
    """A sink that succeeds but leaves a child holding its stderr (in its group, or in a
    session of its own) is a success at once, not a failure at the deadline (nor a hang);
    what is left in its group is ended."""
    pid_file = tmp_path / "pid"
    sink = f"command:cat > /dev/null; {detach}sleep 60 & echo $! > '{pid_file}'; exit 0"
    with killed_afterwards(pid_file):
        proc, took = cli(
            "--deadline", "20", "credentials", "rotate", "--max-age", "0", "--publish", sink
        )
        assert proc.returncode == 0, proc.stderr
        assert took < 15
        if not detach:
            assert ended_soon(int(pid_file.read_text()))


def test_a_sink_that_floods_stderr_costs_no_memory(stored: dict[str, Any]) -> None:
    """300 MB of stderr from a refusing sink: exit 5 with its last line, in bounded memory."""
    sink = (
        "command:cat > /dev/null; head -c 300000000 /dev/zero >&2; "
        "echo >&2; echo 'the store said no' >&2; exit 1"
    )
    proc, _ = cli(
        "credentials",
        "rotate",
        "--max-age",
        "0",
        "--publish",
        sink,
        argv=[sys.executable, "-c", MAXRSS],
    )
    assert proc.returncode == 5, proc.stderr[-2000:]
    assert "(status 1: the store said no)" in proc.stderr
    maxrss_kib = int(proc.stderr.strip().splitlines()[-1])
    assert maxrss_kib < 150 * 1024
