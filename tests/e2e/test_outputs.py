"""
Where secrets are written, and read from, by the CLI: `--output /dev/stdout` whatever stdout
is, `credentials import` from a pipe within the deadline, and `--format github` checking
GITHUB_OUTPUT before anything changes. Real processes, pipes and the emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, record_output, record_secret
from tests.e2e.conftest import create_credentials

pytestmark = pytest.mark.posix("named pipes and the process's own descriptors")
DEADLINE = 2.0
IMPORT_STDIN = ("credentials", "import", "-")


def cli(*args: str, **kwargs: Any) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", *args], timeout=60, check=False, **kwargs
    )
    if isinstance(proc.stderr, bytes):
        record_output(proc.stderr.decode("utf-8", "replace"))
    return proc, time.monotonic() - started


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1"])
def test_token_output_to_stdout_redirected_to_a_file(
    runner: RecordingRunner, service: EmulatorHandle, tmp_path: Path, name: str
) -> None:
    """`token --output /dev/stdout > file`: the token lands in the file (exit 0)."""
    create_credentials(runner)
    redirected = tmp_path / "token.txt"
    with redirected.open("wb") as stdout:
        proc, _ = cli("token", "--output", name, stdout=stdout, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr
    token = redirected.read_text().strip()
    record_secret(token)
    assert token.count(".") == 2


def test_import_from_a_fifo_with_no_writer_keeps_the_deadline(
    tmp_path: Path, clean_environment: dict[str, Path]
) -> None:
    """`credentials import FIFO` that nobody writes: exit 5 once --deadline is spent."""
    fifo = tmp_path / "creds.pipe"
    os.mkfifo(fifo, 0o600)
    proc, took = cli(
        "--deadline", str(DEADLINE), "credentials", "import", str(fifo), capture_output=True
    )
    assert proc.returncode == 5, proc.stderr
    assert took < DEADLINE + 3
    assert b"--deadline" in proc.stderr


def test_import_from_a_stalled_producer_keeps_the_deadline(
    clean_environment: dict[str, Path],
) -> None:
    """`credentials import -` from a producer that never finishes: exit 5 in time."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", "--deadline", str(DEADLINE), *IMPORT_STDIN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b'{"client_id": ')  # and then nothing, for ever
    process.stdin.flush()
    try:
        process.wait(timeout=DEADLINE + 10)  # stdin kept open: communicate() would close it
    except subprocess.TimeoutExpired:
        process.kill()
    _, stderr = process.communicate()
    record_output(stderr.decode("utf-8", "replace"))
    assert process.returncode == 5, stderr
    assert time.monotonic() - started < DEADLINE + 3


@pytest.mark.parametrize("kind", ["missing directory", "directory", "unset"])
def test_format_github_proves_github_output_before_any_change(
    runner: RecordingRunner,
    service: EmulatorHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """An unwritable GITHUB_OUTPUT: exit 5 before a client is created (the new secret
    would reach no output, and the old client would be revoked)."""
    if kind == "unset":
        monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    else:
        target = tmp_path / "no-such-dir" / "out" if kind == "missing directory" else tmp_path
        monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    result = runner.run(["credentials", "create", "--format", "github"])
    assert result.exit_code == 5, result.stderr
    assert "GITHUB_OUTPUT" in result.stderr
    assert service.count("clients") == 0
