"""
`make proof`, leaks: a tour of every output the CLI has (intended secret outputs included,
then excluded from the scan), hostile servers that echo secrets back in error bodies, and
the scan of everything the whole run wrote, every file left on disk and every argv.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections import Counter
from pathlib import Path

from proof._common import (
    Figure,
    Recorder,
    Section,
    Table,
    base_env,
    user_env,
)
from proof._servers import EMULATOR_LOG, echo_server, emulator
from spatiafi_ops import Settings
from spatiafi_ops.credentials._store import Store
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD

# Files whose purpose is to hold secrets (README: Output formats, Rotation): excluded from
# the file scan.
INTENDED_FILES = (
    "app_credentials.json",
    "sink-published.json",  # what the engine section's command sinks publish
    "rotation-state.json",
    "github_output",
    "github_env",
    "emitted.env",
    "emitted.json",
    "token.txt",
)
MAX_FILE = 1 << 22


def tour(recorder: Recorder, root: Path) -> tuple[int, list[str]]:
    """
    Run every command and output format once, at debug level; return the processes run.
    """
    runs = 0
    failed: list[str] = []
    with emulator(recorder) as (handle, _tap):
        out = root / "out"
        out.mkdir(parents=True)
        for name in ("github_output", "github_env", "step_summary.md"):
            (out / name).touch(mode=0o600)  # the runner creates these files for each step
        env = base_env(root, handle.url, SPATIAFI_LOG_LEVEL="debug")
        env.update(user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        env.update(
            GITHUB_OUTPUT=str(out / "github_output"),
            GITHUB_ENV=str(out / "github_env"),
            GITHUB_STEP_SUMMARY=str(out / "step_summary.md"),
        )
        # (args, stdout is an intended secret output)
        commands: list[tuple[list[str], bool]] = [
            (["credentials", "ensure"], False),
            (["credentials", "ensure"], False),
            (["login"], True),
            (["login", "--format", "json"], True),
            (["token"], True),
            (["token", "--no-cache"], True),
            *[
                (["token", "--format", fmt], True)
                for fmt in ("shell", "dotenv", "docker", "json", "gitlab")
            ],
            (["token", "--format", "github", "--github-env"], True),
            (["token", "--output", str(out / "token.txt")], False),
            *[
                (["emit", "--format", fmt, "--with-token"], True)
                for fmt in ("shell", "dotenv", "docker", "json", "gitlab")
            ],
            (["emit", "--format", "github", "--with-token"], True),
            (["emit", "--format", "dotenv", "--output", str(out / "emitted.env")], False),
            (["emit", "--format", "json", "--output", str(out / "emitted.json")], False),
            (["credentials", "show"], False),
            (["credentials", "show", "--show-secret"], True),
            (["credentials", "rotate", "--max-age", "0s", "--grace", "1h"], False),
        ]
        # Then `credentials revoke` of the client that rotate kept for its grace: one this
        # profile provably held (issue 17: an id this machine never held is exit 5).
        later: list[tuple[list[str], bool]] = [
            (["credentials", "rotate", "--max-age", "0s", "--grace", "0", "--dry-run"], False),
            (["credentials", "rotate", "--max-age", "0s", "--grace", "0"], False),
            (["credentials", "create", "--force"], False),
            (["doctor"], False),
        ]

        def step(args: list[str], intended: bool = False) -> None:
            nonlocal runs
            done = recorder.run(
                args, env, label=f"tour {' '.join(args[:3])}", intended_stdout=intended
            )
            runs += 1
            if done.code != 0:
                failed.append(f"`{' '.join(args)}` exit {done.code}")

        store = Store(Settings(auth_url=handle.url, config_dir=root / "config"))
        for args, intended in commands:
            held = store.read()  # the client this step may turn into the previous one
            step(args, intended)
        if held is not None:
            step(["credentials", "revoke", held.client_id])
        else:
            failed.append("`credentials revoke`: no client held before the grace rotate")
        for args, intended in later:
            step(args, intended)
        for fmt in ("console", "json"):
            console = {**env, "SPATIAFI_LOG_FORMAT": fmt}
            recorder.run(
                ["credentials", "rotate", "--max-age", "0s", "--grace", "0"],
                console,
                label=f"tour {fmt} logs",
            )
            runs += 1
    with echo_server(recorder) as url:
        env = base_env(root / "echo", url, SPATIAFI_LOG_LEVEL="debug", SPATIAFI_DEADLINE="2")
        secret = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        recorder.add_secrets([secret], "client secret")
        env.update(SPATIAFI_CLIENT_ID="echo-client", SPATIAFI_CLIENT_SECRET=secret)
        recorder.run(["token", "--no-cache"], env, label="echo token error")
        env.update(user_env(DEFAULT_EMAIL, "echoed-password-" + secret[:12]))
        recorder.add_secrets([env["SPATIAFI_PASSWORD"]], "password")
        recorder.run(["login"], env, label="echo login error")
        recorder.run(["credentials", "ensure"], env, label="echo ensure error")
        runs += 3
    return runs, failed


def scan_files(recorder: Recorder, root: Path) -> tuple[int, int]:
    """
    Add every file under *root* that is not meant to hold a secret to the scan; return
    (files scanned, files skipped as intended secret holders).
    """
    scanned = skipped = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        name = path.name
        intended = (
            name in INTENDED_FILES
            or name == "app_credentials"
            or (path.parent.name == "backups" and name.endswith(".json"))
            or (name.startswith("token-") and name.endswith(".json"))
            or (name.startswith((".app_credentials", ".rotation-state")) and name.endswith(".tmp"))
        )
        if intended:
            skipped += 1
            continue
        scanned += 1
        with contextlib.suppress(OSError):
            recorder.output(f"file {path.relative_to(root)}", path.read_bytes()[:MAX_FILE])
    return scanned, skipped


class ProcSampler:
    """
    Samples /proc for the command lines of every descendant of this process (the
    grandchildren the proof does not spawn itself: benchmark workers, emulators).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.cmdlines: dict[int, str] = {}
        self._parents: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.me = os.getpid()

    def __enter__(self) -> ProcSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _parent(self, pid: int) -> int:
        if pid not in self._parents:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                self._parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                self._parents[pid] = 0
        return self._parents[pid]

    def _descends(self, pid: int) -> bool:
        for _ in range(64):
            pid = self._parent(pid)
            if pid == self.me:
                return True
            if pid <= 1:
                return False
        return False

    def _loop(self) -> None:
        others: set[int] = set()
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError):
                for entry in os.listdir("/proc"):
                    if not entry.isdigit():
                        continue
                    pid = int(entry)
                    if pid in self.cmdlines or pid in others:
                        continue
                    if not self._descends(pid):
                        others.add(pid)
                        continue
                    with contextlib.suppress(OSError):
                        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                        self.cmdlines[pid] = raw.replace(b"\0", b" ").decode(errors="replace")


def scan(
    recorder: Recorder,
    sampler: ProcSampler,
    files: tuple[int, int],
    toured: tuple[int, list[str]],
) -> Section:
    """
    Scan everything recorded for every spelling of every secret seen during the run.
    """
    section = Section("Leaks: every secret, in every spelling, everywhere")
    started = time.perf_counter()
    recorder.output("emulator access log", "\n".join(EMULATOR_LOG))
    hits: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    volume = 0
    for label, text in recorder.outputs:
        volume += len(text)
        for secret, kind in recorder.index.find(text):
            key = (label, kind)
            hits[key] += 1
            examples.setdefault(key, recorder.index.what(secret))
    argv_hits = sum(bool(recorder.index.find("\0".join(argv))) for argv in recorder.argvs)
    sampled_hits = sum(bool(recorder.index.find(line)) for line in sampler.cmdlines.values())
    figures = section.figures
    figures.append(Figure("secrets scanned for (each in 7 spellings)", str(len(recorder.index))))
    figures.append(
        Figure(
            "texts scanned (stdout, stderr, logs, result JSON, exception messages, files)",
            f"{len(recorder.outputs)} texts, {volume / 1e6:.1f} MB",
        )
    )
    figures.append(Figure("secret hits in them", str(sum(hits.values())), "0", not hits))
    figures.append(
        Figure(
            "argv of processes spawned by the proof, checked before spawning and at the end",
            f"{len(recorder.argvs)} processes, {argv_hits} hits",
            "0 hits",
            argv_hits == 0 and recorder.argv_hits_at_spawn == 0,
        )
    )
    figures.append(
        Figure(
            "argv of descendant processes sampled from /proc every 50 ms",
            f"{len(sampler.cmdlines)} processes, {sampled_hits} hits",
            "0 hits",
            sampled_hits == 0,
        )
    )
    figures.append(
        Figure(
            "intended secret outputs excluded (stdout of token/emit/login/show --show-secret)",
            str(recorder.intended_outputs),
        )
    )
    figures.append(
        Figure(
            "files scanned / skipped as intended secret holders",
            f"{files[0]} / {files[1]}",
        )
    )
    figures.append(
        Figure(
            "tour runs against the emulator that exited 0 (coverage of the scan)",
            "all" if not toured[1] else "not: " + "; ".join(toured[1]),
            "all",
            not toured[1],
        )
    )
    if hits:
        section.tables.append(
            Table(
                ["where", "spelling", "hits", "secret"],
                [
                    [where, kind, str(n), examples[(where, kind)]]
                    for (where, kind), n in hits.most_common()
                ],
            )
        )
    section.notes += [
        "Secrets: every password, Basic credential, user and access token, client secret and "
        "assertion that crossed any emulator (recorded server-side by a tap on its request "
        "handler), every client secret found in any store, journal or backup file, and the "
        "secrets planted in hostile servers. Spellings: raw, standard and URL-safe base64 "
        "(with and without padding), URL-encoded (%XX and +).",
        "Scanned: stdout (except intended secret outputs) and stderr of every CLI process of "
        "every section, the debug logs, exception messages (str, repr, traceback) and result "
        "JSON of every in-process run, the emulator access log, every file left under the "
        "proof's scratch directory except the files meant to hold secrets (credential store, "
        "journal, backups, token cache, `--output`/`GITHUB_OUTPUT`/`GITHUB_ENV` targets), "
        "including `GITHUB_STEP_SUMMARY`.",
        f"A tour of {toured[0]} extra CLI runs at `--log-level debug` covers every command and "
        "format; three of them talk to a hostile server whose error bodies repeat the "
        "assertion and the Basic credential it was sent.",
        f"Scan: {time.perf_counter() - started:.1f} s.",
    ]
    return section
