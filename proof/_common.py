"""
Shared machinery of `make proof`: figures, scratch dirs, CLI processes, the secret tap.

Every process the proof spawns goes through ``Recorder.spawn``: its argv is checked for every
secret known at that moment (and again at the end, against all of them), and its stdout and
stderr are kept for the leak scan, unless stdout is an intended secret output.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proof._secrets import SecretIndex

CLI = (sys.executable, "-m", "spatiafi_ops")
PROCESS_TIMEOUT = 90.0


@dataclass
class Figure:
    """
    One measured figure with its goal; ``met`` is None where there is no goal.
    """

    name: str
    value: str
    goal: str = ""
    met: bool | None = None


@dataclass
class Table:
    """
    A Markdown table.
    """

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """
    One area of the report: its figures, extra tables and notes on method.
    """

    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Completed:
    """
    A finished process: exit code (negative: killed by that signal), streams, wall time.
    """

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float


class Recorder:
    """
    Everything this run wrote where secrets must never be, and every secret seen.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outputs: list[tuple[str, str]] = []
        self.index = SecretIndex()
        self.argvs: list[list[str]] = []
        self.argv_hits_at_spawn = 0
        self.intended_outputs = 0

    def output(self, label: str, *texts: str | bytes | None) -> None:
        """
        Keep *texts* for the leak scan.
        """
        with self._lock:
            for item in texts:
                text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
                if text:
                    self.outputs.append((label, text))

    def add_secrets(self, values: Iterable[str | None], what: str) -> None:
        """
        Add secret values (client secrets, tokens, passwords, assertions) to the scan.
        """
        with self._lock:
            for value in values:
                if value:
                    self.index.add(value, what)

    def check_argv(self, argv: Sequence[str]) -> None:
        """
        Refuse to start a process whose argv holds a known secret (README: Security).
        """
        with self._lock:
            self.argvs.append(list(argv))
            hits = self.index.find("\0".join(argv))
        if hits:
            self.argv_hits_at_spawn += 1
            raise RuntimeError(f"refusing to spawn {argv[:4]}: its argv holds a secret")

    def spawn(
        self, argv: Sequence[str], env: dict[str, str], *, stdin: bool = False
    ) -> subprocess.Popen[str]:
        """
        Start a process after checking its argv; stdout and stderr are pipes.
        """
        self.check_argv(argv)
        return subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

    def finish(
        self,
        process: subprocess.Popen[str],
        started: float,
        *,
        label: str,
        intended_stdout: bool = False,
        input: str | None = None,
        timeout: float = PROCESS_TIMEOUT,
    ) -> Completed:
        """
        Wait for *process*, keep its streams for the scan, and return what it did.
        """
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += "\n[proof: killed after the timeout]"
        seconds = time.perf_counter() - started
        self.output(f"{label} stderr", stderr)
        if intended_stdout:
            with self._lock:
                self.intended_outputs += 1
        else:
            self.output(f"{label} stdout", stdout)
        argv = process.args if isinstance(process.args, list) else [str(process.args)]
        return Completed([str(a) for a in argv], process.returncode, stdout, stderr, seconds)

    def run(
        self,
        args: Sequence[str],
        env: dict[str, str],
        *,
        label: str,
        input: str | None = None,
        intended_stdout: bool = False,
        timeout: float = PROCESS_TIMEOUT,
    ) -> Completed:
        """
        Run ``python -m spatiafi_ops ARGS`` to the end.
        """
        started = time.perf_counter()
        process = self.spawn([*CLI, *args], env, stdin=input is not None)
        return self.finish(
            process,
            started,
            label=label,
            intended_stdout=intended_stdout,
            input=input,
            timeout=timeout,
        )


def base_env(root: Path, url: str, **extra: str) -> dict[str, str]:
    """
    Return a clean environment for the CLI: no proxies, no inherited SPATIAFI_* variables.
    """
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "SPATIAFI_AUTH_URL": url,
        "SPATIAFI_CONFIG_DIR": str(root / "config"),
        "SPATIAFI_CACHE_DIR": str(root / "cache"),
        "SPATIAFI_LOG_FORMAT": "json",
    }
    env.update(extra)
    return env


def user_env(email: str, password: str) -> dict[str, str]:
    """
    Return the documented variables that carry a person's login (never argv).
    """
    return {"SPATIAFI_USERNAME": email, "SPATIAFI_PASSWORD": password}


def configure_library_logs() -> io.StringIO:
    """
    Send this process's library logs (structlog, redacted as the CLI does) to a buffer.
    """
    from spatiafi_ops import _logging

    buffer = io.StringIO()
    _logging.configure(log_format="json", level="debug", stream=buffer)
    return buffer


@contextlib.contextmanager
def fresh_registry() -> Iterator[None]:
    """
    Give a library call its own secret registry, as a fresh CLI process has.

    The registry recompiles one regex of every secret ever registered each time a new one
    arrives (a defect reported in PROOF.md), so a long-lived proof must not let it grow.
    """
    from spatiafi_ops._redaction import forget_secrets

    forget_secrets()
    try:
        yield
    finally:
        forget_secrets()


def first_line(stderr: str) -> str:
    """
    Return the user-facing error line of a CLI run: its ``Error:`` line, else the first
    non-log line, else the first log event's detail.
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line
    plain = [line for line in lines if not line.startswith("{")]
    if plain:
        return plain[0]
    for line in lines:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            return str(event.get("detail") or event.get("event"))
    return ""


def tree_digest(*roots: Path) -> dict[str, tuple[int, str]]:
    """
    Return (mode, content hash) of every file and directory under *roots*; empty lock
    files are left out (a kernel lock needs a file; it holds nothing).
    """
    import hashlib

    digest: dict[str, tuple[int, str]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root, *sorted(root.rglob("*"))]:
            info = path.lstat()
            content = b""
            if path.is_file() and not path.is_symlink():
                content = path.read_bytes()
                if not content and path.name.endswith(".lock"):
                    continue
            digest[str(path)] = (info.st_mode, hashlib.sha256(content).hexdigest())
    return digest


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """
    Write a test fixture file with *mode* (the proof's own set-up, not the library's).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"
