"""
`spatiafi-ops exec -- CMD`: CMD runs with a token in its environment, never in argv, and
its exit code is the answer; without a token CMD never runs.

Every case runs the real entry point in a subprocess: on POSIX `exec` replaces the process
(execve), which must not happen to the test runner.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from spatiafi_ops.cli._exec import wait_for_command
from spatiafi_ops.emulator import EmulatorHandle, Fault
from tests.conftest import RecordingRunner, final_error, record_output, record_secret
from tests.e2e.conftest import create_credentials
from tests.platforms import python_command

# cat(1) and touch(1) as Python children: Windows has neither.
CAT = [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"]
TOUCH = [sys.executable, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"]

# Writes what it was given (argv, the kernel's view of its command line, its environment,
# its pid and parent pid) to $RECORD, then exits with $EXIT_WITH.
RECORDER = """import json, os, sys
record = {
    "argv": sys.argv[1:],
    "pid": os.getpid(),
    "ppid": os.getppid(),
    "env": dict(os.environ),
}
if os.path.exists("/proc/self/cmdline"):
    with open("/proc/self/cmdline", "rb") as handle:
        record["cmdline"] = handle.read().decode("utf-8", "replace")
with open(os.environ["RECORD"], "w", encoding="utf-8") as handle:
    json.dump(record, handle)
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def spatiafi_ops(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(proc.stderr)
    return proc


class Recorder(NamedTuple):
    """
    The argv that runs the recorder (``record`` on PATH, ``python record.py`` on Windows)
    and the file it writes.
    """

    command: list[str]
    file: Path


@pytest.fixture(name="recorder")
def _recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    command = python_command(bindir, "record", RECORDER)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record.json"
    monkeypatch.setenv("RECORD", str(record))
    return Recorder(command, record)


def read_record(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    record_secret(data["env"].get("SPATIAFI_ACCESS_TOKEN", ""))
    return data


@pytest.fixture(name="stored")
def _stored(runner: RecordingRunner, service: EmulatorHandle) -> dict[str, Any]:
    """
    Credentials created in the default profile; the user's password stays in the env.
    """
    return create_credentials(runner)


def test_cmd_gets_the_token_in_its_environment_and_nothing_in_argv(
    stored: dict[str, Any], recorder: Recorder, service: EmulatorHandle
) -> None:
    """The three token variables reach CMD's environment; argv is exactly what was typed."""
    proc = spatiafi_ops("exec", "--", *recorder.command, "deploy", "--env", "prod")

    assert proc.returncode == 0, proc.stderr
    record = read_record(recorder.file)
    env = record["env"]
    token = env["SPATIAFI_ACCESS_TOKEN"]
    assert token.count(".") == 2
    assert env["SPATIAFI_TOKEN_EXPIRES_AT"].isdigit()
    assert env["SPATIAFI_TOKEN_TYPE"] == "bearer"
    assert record["argv"] == ["deploy", "--env", "prod"]
    if "cmdline" in record:
        assert token not in record["cmdline"]
        # The kernel's argv (what ps shows): interpreter, script, then exactly our words.
        assert record["cmdline"].split("\0")[-4:-1] == ["deploy", "--env", "prod"]
    assert token not in proc.stdout + proc.stderr
    assert service.count("token") == 1


def test_cmd_inherits_neither_the_client_secret_nor_the_password(
    recorder: Recorder, service: EmulatorHandle
) -> None:
    """The app credentials (as a pair) and the user's password are taken out of CMD's env."""
    client = service.create_client()
    record_secret(client.client_secret)
    env = {
        **os.environ,
        "SPATIAFI_CLIENT_ID": client.client_id,
        "SPATIAFI_CLIENT_SECRET": client.client_secret,
        "UNRELATED": "kept",
    }
    proc = spatiafi_ops("exec", "--", *recorder.command, env=env)

    assert proc.returncode == 0, proc.stderr
    child_env = read_record(recorder.file)["env"]
    assert "SPATIAFI_ACCESS_TOKEN" in child_env
    for withheld in ("SPATIAFI_CLIENT_SECRET", "SPATIAFI_CLIENT_ID", "SPATIAFI_PASSWORD"):
        assert withheld not in child_env
    assert client.client_secret not in json.dumps(child_env)
    assert os.environ["SPATIAFI_PASSWORD"] not in json.dumps(child_env)
    assert child_env["UNRELATED"] == "kept"


@pytest.mark.posix("execve: on Windows exec runs CMD as a child and waits")
def test_the_process_becomes_cmd(stored: dict[str, Any], recorder: Recorder) -> None:
    """No Python parent lingers: CMD has spatiafi-ops's pid, and our parent is its parent."""
    child = subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", "exec", "--", *recorder.command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _out, err = child.communicate(timeout=60)
    record_output(err)
    assert child.returncode == 0, err
    record = read_record(recorder.file)
    assert record["pid"] == child.pid
    assert record["ppid"] == os.getpid()


def test_a_cached_token_is_reused_and_no_cache_mints(
    stored: dict[str, Any], recorder: Recorder, service: EmulatorHandle
) -> None:
    """The token `token` printed is the one CMD gets; --no-cache mints a new one."""
    printed = spatiafi_ops("token")
    assert printed.returncode == 0, printed.stderr
    record_secret(printed.stdout.strip())

    assert spatiafi_ops("exec", "--", *recorder.command).returncode == 0
    assert read_record(recorder.file)["env"]["SPATIAFI_ACCESS_TOKEN"] == printed.stdout.strip()
    assert service.count("token") == 1

    assert spatiafi_ops("exec", "--no-cache", "--", *recorder.command).returncode == 0
    assert read_record(recorder.file)["env"]["SPATIAFI_ACCESS_TOKEN"] != printed.stdout.strip()
    assert service.count("token") == 2


def test_what_exec_logged_is_out_before_cmd_runs(
    stored: dict[str, Any], recorder: Recorder
) -> None:
    """A warning logged before the switch to CMD is on stderr (flushed), CMD still runs."""
    # expires_at = exp - 60, so a 15-minute token has at most 840 s left: a warning.
    proc = spatiafi_ops("exec", "--min-ttl", "850s", "--", *recorder.command)

    assert proc.returncode == 0, proc.stderr
    assert "token_shorter_than_min_ttl" in proc.stderr
    assert read_record(recorder.file)["env"]["SPATIAFI_ACCESS_TOKEN"]


def test_prefix_names_the_variables(stored: dict[str, Any], recorder: Recorder) -> None:
    """--prefix MY_ gives MY_ACCESS_TOKEN, MY_TOKEN_EXPIRES_AT, MY_TOKEN_TYPE, as emit does."""
    proc = spatiafi_ops("exec", "--prefix", "MY_", "--", *recorder.command)

    assert proc.returncode == 0, proc.stderr
    env = read_record(recorder.file)["env"]
    record_secret(env["MY_ACCESS_TOKEN"])
    assert env["MY_ACCESS_TOKEN"].count(".") == 2
    assert env["MY_TOKEN_EXPIRES_AT"].isdigit()
    assert env["MY_TOKEN_TYPE"] == "bearer"
    assert "SPATIAFI_ACCESS_TOKEN" not in env


def test_everything_after_cmd_is_cmds(stored: dict[str, Any], recorder: Recorder) -> None:
    """Options after CMD are CMD's, with or without `--`."""
    with_dashes = spatiafi_ops("exec", "--", *recorder.command, "--min-ttl", "-x")
    assert with_dashes.returncode == 0, with_dashes.stderr
    assert read_record(recorder.file)["argv"] == ["--min-ttl", "-x"]
    without = spatiafi_ops("exec", "--min-ttl", "5m", *recorder.command, "--prefix", "X")
    assert without.returncode == 0, without.stderr
    assert read_record(recorder.file)["argv"] == ["--prefix", "X"]


def test_cmd_owns_the_standard_streams(stored: dict[str, Any]) -> None:
    """CMD reads our stdin and writes our stdout: the pipe is its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", "exec", "--", *CAT],
        input="through\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "through\n"


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_the_exit_code_is_cmds(stored: dict[str, Any], recorder: Recorder, code: int) -> None:
    """Whatever CMD exits with, exec exits with."""
    env = {**os.environ, "EXIT_WITH": str(code)}
    assert spatiafi_ops("exec", "--", *recorder.command, env=env).returncode == code


@pytest.mark.posix("a death by signal and sh's $?")
def test_a_signal_death_is_seen_as_such_and_a_shell_reports_128_plus_n(
    stored: dict[str, Any],
) -> None:
    """CMD killed by SIGTERM: the process dies of SIGTERM, and `$?` is 143 in a shell."""
    suicide = ["sh", "-c", "kill -TERM $$"]
    direct = spatiafi_ops("exec", "--", *suicide)
    assert direct.returncode == -signal.SIGTERM
    line = " ".join([sys.executable, "-m", "spatiafi_ops", "exec", "--", *suicide[:2]])
    shell = subprocess.run(
        ["sh", "-c", f"{line} 'kill -TERM $$'; echo \"status $?\""],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(shell.stderr)
    assert shell.stdout.splitlines()[-1] == f"status {128 + signal.SIGTERM}"


@pytest.mark.posix("SIGTERM handled by CMD; Windows has no signal to send it")
def test_a_signal_sent_to_exec_reaches_cmd(stored: dict[str, Any], tmp_path: Path) -> None:
    """SIGTERM to the pid we started is delivered to CMD, which handles it itself."""
    ready = tmp_path / "ready"
    handler = f"trap 'echo got-term; exit 42' TERM; touch {ready}; while :; do sleep 0.05; done"
    child = subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", "exec", "--", "sh", "-c", handler],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Waiting on a file CMD creates, not on time: no timed assertion.
        while not ready.exists() and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    record_output(err)
    assert child.returncode == 42, err
    assert out == "got-term\n"


@pytest.mark.posix("POSIX signals and /bin/sh; on Windows every exec test above waits")
def test_the_waiting_path_passes_the_code_on_and_maps_signals_to_128_plus_n() -> None:
    """
    Where exec cannot replace the process (Windows), CMD's code is passed on, a signal N
    as 128+N; here with real POSIX processes, since on Windows every test above takes it.
    """
    env = dict(os.environ)
    assert wait_for_command("/bin/sh", ["sh", "-c", "exit 9"], env) == 9
    assert wait_for_command("/bin/sh", ["sh", "-c", "kill -TERM $$"], env) == 143


@pytest.mark.parametrize(
    ("make_cmd", "code", "says"),
    [
        (lambda tmp: "no-such-command-anywhere", 127, "command not found"),
        (lambda tmp: str(tmp / "missing" / "deploy.sh"), 127, "command not found"),
        pytest.param(
            lambda tmp: _write(tmp / "plain.sh", "echo hi\n", 0o644),
            126,
            "is not executable",
            marks=pytest.mark.posix("the execute bit; Windows runs by extension (PATHEXT)"),
        ),
        pytest.param(
            str, 126, "is a directory", marks=pytest.mark.posix("a shell's 126 for a directory")
        ),
        pytest.param(
            lambda tmp: _write(tmp / "orphan.sh", "#!/no/such/interpreter\n", 0o755),
            126,
            "interpreter",
            marks=pytest.mark.posix("a #! line; Windows reads none"),
        ),
    ],
    ids=["not-on-path", "no-such-path", "not-executable", "directory", "missing-interpreter"],
)
def test_cmd_that_cannot_run_gets_the_shells_code(
    stored: dict[str, Any], tmp_path: Path, make_cmd: Any, code: int, says: str
) -> None:
    """127 not found, 126 found but not runnable, each with one sentence, as a shell does."""
    proc = spatiafi_ops("exec", "--", make_cmd(tmp_path))

    assert proc.returncode == code, proc.stderr
    assert says in final_error(proc.stderr)["message"]
    assert "Traceback" not in proc.stderr


def _write(path: Path, text: str, mode: int) -> str:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("rejected", 3),
        ("unreachable", 4),
        ("no-credentials", 5),
        ("bad-prefix", 2),
        ("bad-min-ttl", 2),
        ("unknown-option", 2),
    ],
)
def test_cmd_never_runs_without_a_token(
    service: EmulatorHandle, runner: RecordingRunner, tmp_path: Path, case: str, code: int
) -> None:
    """No token, no CMD: the documented exit code, and CMD's marker file never appears."""
    marker = tmp_path / "ran"
    options: list[str] = []
    env = dict(os.environ)
    if case != "no-credentials":
        create_credentials(runner)
    if case == "rejected":
        client = service.create_client()
        env["SPATIAFI_CLIENT_ID"] = client.client_id
        env["SPATIAFI_CLIENT_SECRET"] = client.client_secret[::-1]
        record_secret(client.client_secret)
    elif case == "unreachable":
        service.set_faults(Fault(route="token", status=503))
        env["SPATIAFI_DEADLINE"] = "1"
        options = ["--no-cache"]  # create cached the token its verification minted
    elif case == "bad-prefix":
        options = ["--prefix", "1BAD"]
    elif case == "bad-min-ttl":
        options = ["--min-ttl", "soon"]
    elif case == "unknown-option":
        options = ["--no-such-option"]
    proc = spatiafi_ops("exec", *options, "--", *TOUCH, str(marker), env=env)

    assert proc.returncode == code, proc.stderr
    assert not marker.exists()
    assert "Traceback" not in proc.stderr


def test_exec_without_cmd_is_a_usage_error(runner: RecordingRunner) -> None:
    """CMD is required."""
    result = runner.run(["exec"])
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr
