"""
`make proof`, hostile host: directories and files that are not what they claim. Other
users' directories and files, a cache dir anyone can write, a symlinked lock, a FIFO at
every state path, device and FIFO `--output` targets, `--output 'dir/*'`. Each case runs
the real CLI in its own temp dir (device nodes are made there, never in the real /dev);
every row: documented exit code, wall time <= deadline + 2 s, peak RSS <= 100 MiB,
nothing on disk changed but the command's product, no secret in its output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from proof._common import (
    CLI,
    Figure,
    Recorder,
    Section,
    Table,
    base_env,
    tree_digest,
    user_env,
)
from proof._hostile_traps import MINTED, Case, cases, stored_credentials
from proof._servers import emulator
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD

DEADLINE = 5.0
RSS_LIMIT_KIB = 100 * 1024
AS_ROOT = os.geteuid() == 0


@dataclass
class Row:
    """
    What one case did, and whether it met every goal of the section.
    """

    case: Case
    code: int | None = None
    seconds: float = 0.0
    rss_kib: int = 0
    changed: list[str] = field(default_factory=list)
    leaks: int = 0
    note: str = ""

    @property
    def met(self) -> bool:
        return (
            self.code == self.case.expect
            and self.seconds <= DEADLINE + 2
            and self.rss_kib <= RSS_LIMIT_KIB
            and not self.changed
            and not self.leaks
            and not self.note
        )


class Measured(NamedTuple):
    code: int
    seconds: float
    rss_kib: int
    leaks: int


# A fresh, small Python parent runs each case and reports its wait4 figures on a pipe. Linux
# carries the hiwater RSS of the memory a child execs from into its ru_maxrss (exec_mmap in
# fs/exec.c; fork, vfork and posix_spawn alike), so a CLI started straight from the proof
# process (over 100 MiB once every part is imported) would report the proof's size, not its own.
LAUNCHER = (
    "import os, subprocess, sys, time\n"
    "report, limit = int(sys.argv[1]), float(sys.argv[2])\n"
    "started = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[3:])\n"
    "pid, status, usage = 0, 0, None\n"
    "while not pid and time.perf_counter() - started < limit:\n"
    "    pid, status, usage = os.wait4(child.pid, os.WNOHANG)\n"
    "    time.sleep(0 if pid else 0.005)\n"
    "if not pid:\n"
    "    child.kill()\n"
    "    _pid, status, usage = os.wait4(child.pid, 0)\n"
    "seconds = time.perf_counter() - started\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "os.write(report, f'{code} {seconds} {usage.ru_maxrss}'.encode())\n"
)


def run_measured(
    recorder: Recorder, argv: list[str], env: dict[str, str], *, label: str, intended: bool
) -> Measured:
    """
    Run *argv* to its end (killed after DEADLINE + 10 s) under LAUNCHER; its exit code, wall
    time and peak RSS come from the launcher's wait4. Streams go to the run's leak scan
    (stdout unless it is the intended secret output) and are scanned here too.
    """
    recorder.check_argv(argv)
    report_read, report_write = os.pipe()
    limit = str(DEADLINE + 10)
    launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report_write), limit, *argv]
    process = subprocess.Popen(
        launcher,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(report_write,),
    )
    os.close(report_write)
    streams: dict[str, bytes] = {}

    def drain(name: str, stream: IO[bytes] | None) -> None:
        streams[name] = stream.read() if stream is not None else b""

    readers = [
        threading.Thread(target=drain, args=("out", process.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", process.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    with os.fdopen(report_read, "rb") as report:
        figures = report.read().split()
    process.wait(20)
    for reader in readers:
        reader.join(10)
    if len(figures) != 3:
        raise RuntimeError(f"{label}: the launcher reported {figures!r}")
    code, seconds, rss = int(figures[0]), float(figures[1]), int(figures[2])
    stdout = streams.get("out", b"").decode(errors="replace")
    stderr = streams.get("err", b"").decode(errors="replace")
    recorder.output(f"{label} stderr", stderr)
    leaks = len(recorder.index.find(stderr))
    if intended:
        recorder.add_secrets([stdout.strip()], "access token")
        recorder.intended_outputs += 1
    else:
        recorder.output(f"{label} stdout", stdout)
        leaks += len(recorder.index.find(stdout))
    return Measured(code, seconds, rss, leaks)


def run_case(recorder: Recorder, url: str, root: Path, index: int, case: Case) -> Row:
    """
    Give the case a home with working credentials, lay the trap, run, compare the tree.
    """
    row = Row(case)
    if case.needs_root and not AS_ROOT:
        row.note = "skipped: needs root to make another user's files"
        return row
    home = root / f"case-{index:02d}"
    home.mkdir(parents=True)
    env = base_env(home, url, SPATIAFI_DEADLINE=str(DEADLINE), SPATIAFI_TIMEOUT="2")
    created = recorder.run(
        ["credentials", "create"],
        {**env, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)},
        label=f"hostile host {case.name} setup",
    )
    if created.code != 0:
        row.note = f"setup failed: {created.stderr[-200:]}"
        return row
    recorder.add_secrets([stored_credentials(home).client_secret], "client secret")
    kept = [step(home, env) for step in case.lay]
    before = tree_digest(home)
    args = [a.format(home=home) for a in case.args]
    measured = run_measured(
        recorder,
        [*CLI, *args],
        env,
        label=f"hostile host {case.name}",
        intended=case.intended_stdout,
    )
    row.code, row.seconds, row.rss_kib, row.leaks = measured
    after = tree_digest(home)
    relative = {p: str(Path(p).relative_to(home)) for p in set(before) | set(after)}
    row.changed = sorted(
        relative[p]
        for p in relative
        if before.get(p) != after.get(p)
        and not any(
            relative[p] == allowed or relative[p].startswith(allowed + "/")
            for allowed in case.product
        )
    )
    for product in case.product:
        if (home / product).is_file() and product not in MINTED:
            (home / product).unlink()  # an --output file: it holds a token, by design
    for handle in kept:
        if isinstance(handle, threading.Thread):
            handle.join(10)
        elif isinstance(handle, socket.socket):
            handle.close()
    if (home / "victim").exists():
        row.note = "a file was created through the symlinked lock"
    return row


def hostile_host(recorder: Recorder, root: Path) -> Section:
    """
    Run every case, one after the other (wall times stay comparable), and tabulate them.
    """
    section = Section("Hostile host: files that are not what they claim")
    with emulator(recorder) as (handle, _tap):
        rows = [run_case(recorder, handle.url, root, i, case) for i, case in enumerate(cases())]
    ran = [row for row in rows if not row.note.startswith("skipped")]
    met = sum(row.met for row in ran)
    section.figures.append(
        Figure(
            "cases with the documented exit code, <= deadline + 2 s, <= 100 MiB, "
            "nothing else changed on disk, no secret in their output",
            f"{met}/{len(ran)}"
            + (f" ({len(rows) - len(ran)} skipped: not root)" if len(ran) < len(rows) else ""),
            "all",
            met == len(ran) and bool(ran),
        )
    )
    section.tables.append(
        Table(
            [
                "case",
                "exit (expected)",
                "wall s",
                "peak RSS MiB",
                "changed besides the product",
                "leaks",
                "met",
            ],
            [
                [
                    row.case.name,
                    f"{row.code} ({row.case.expect})"
                    if row.code is not None
                    else f"- ({row.case.expect})",
                    f"{row.seconds:.2f}",
                    f"{row.rss_kib / 1024:.0f}",
                    ", ".join(row.changed) or row.note or "nothing",
                    str(row.leaks),
                    "skipped" if row.note.startswith("skipped") else ("yes" if row.met else "NO"),
                ]
                for row in rows
            ],
        )
    )
    section.notes.append(
        f"Each case: its own home with credentials made by `credentials create` against the "
        f"emulator, then the trap, then one CLI process with `--deadline {DEADLINE:g}`. Peak "
        "RSS is the process's own maximum resident set: wait4's ru_maxrss, taken by a fresh "
        "`python -I -S` parent that only starts the CLI (a child of the proof process would "
        "inherit the proof's own size). Files compared: "
        "mode and SHA-256 of everything under the case's home before and after (empty lock "
        "files left out); the product is the cache file and the --output file where the "
        "command succeeds. Another user's files are made with os.chown (root only); the "
        "character device is a node made with mknod in the temp dir, never the real /dev."
    )
    return section
