"""
`make proof`: reliability, security and performance figures of spatiafi-ops in one report.

Runs against local emulators only (127.0.0.1) and writes PROOF.md: faults, crashes,
concurrency, leaks, bad input and performance, each figure next to its goal, and the commit
it measured. Every number in the report is measured by this run; nothing is copied from
elsewhere. Each part lives in proof/_<name>.py and is registered in PARTS below.

Usage, from the repository's root: python -m proof [--output PROOF.md] [--quick] [--seed N]
[--strict]
Exit status 0 once the report is written (1 with --strict if a goal was missed).
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from proof._bad_input import bad_input
from proof._channels import channels
from proof._common import Figure, Recorder, Section, Table, configure_library_logs
from proof._concurrency import concurrency
from proof._crash import crashes
from proof._emulator import emulator_service
from proof._engine import engine
from proof._faults import transient_faults
from proof._hostile_host import hostile_host
from proof._hostile_service import hostile_service
from proof._leaks import ProcSampler, scan, scan_files, tour
from proof._ownership import ownership
from proof._perf import performance
from proof._permanent import permanent_failures, shared_account
from proof._provenance import commit_line
from proof._secretstore import secret_store

ROOT = Path(__file__).resolve().parent.parent
LOAD_AT_START = os.getloadavg()[0]


@dataclass(frozen=True)
class Scale:
    """
    How much of everything to run; ``--quick`` is for working on the proof itself.
    """

    cycles: int = 84  # accounts, 6 runs each: 504 fault runs, plus reruns
    workers: int = 24
    kills: int = 56
    lanes: int = 2
    concurrency: tuple[tuple[int, int], ...] = ((8, 3), (32, 2))
    token_runs: int = 15
    fleet_profiles: int = 200
    level_profiles: int = 200
    lost_creates: int = 12
    sink_rotations: int = 50
    publish_kills: int = 10
    ownership_sequences: int = 2000
    store_rounds: int = 50
    store_fault_runs: int = 10


QUICK = Scale(
    cycles=12,
    workers=12,
    kills=6,
    concurrency=((8, 1), (32, 1)),
    token_runs=5,
    fleet_profiles=40,
    level_profiles=20,
    lost_creates=4,
    sink_rotations=6,
    publish_kills=2,
    ownership_sequences=200,
    store_rounds=3,
    store_fault_runs=3,
)


@dataclass(frozen=True)
class Run:
    """
    What every part gets: the shared recorder, this run's scratch directory (a part works in
    ``root / "<its name>"``), the scale and seed, and the process sampler the leak scan reads.
    """

    recorder: Recorder
    root: Path
    scale: Scale
    seed: int
    sampler: ProcSampler
    library_logs: io.StringIO


@dataclass(frozen=True)
class Part:
    """
    One section of the report: its title and the function that measures it.
    """

    title: str
    measure: Callable[[Run], Section]


def _faults(run: Run) -> Section:
    section = transient_faults(
        run.recorder,
        run.root / "faults",
        cycles=run.scale.cycles,
        workers=run.scale.workers,
        seed=run.seed,
    )
    table = permanent_failures(run.recorder, run.root / "permanent")
    section.figures.append(
        Figure(
            "permanent failures: exit 3 after exactly one request",
            f"{sum(r[-1] == 'yes' for r in table.rows)}/{len(table.rows)}",
            "all",
            all(row[-1] == "yes" for row in table.rows),
        )
    )
    section.tables.insert(0, table)
    section.figures.append(shared_account(run.recorder, run.root / "shared"))
    return section


def _crashes(run: Run) -> Section:
    scale = run.scale
    return crashes(
        run.recorder, run.root / "crash", kills=scale.kills, lanes=scale.lanes, seed=run.seed
    )


def _concurrency(run: Run) -> Section:
    return concurrency(run.recorder, run.root / "concurrency", sizes=run.scale.concurrency)


def _engine(run: Run) -> Section:
    scale = run.scale
    return engine(
        run.recorder,
        run.root / "engine",
        lost=scale.lost_creates,
        rotations=scale.sink_rotations,
        kills=scale.publish_kills,
        seed=run.seed,
    )


def _performance(run: Run) -> Section:
    scale = run.scale
    return performance(
        run.recorder,
        run.root / "perf",
        runs=scale.token_runs,
        fleet_profiles=scale.fleet_profiles,
        level_profiles=scale.level_profiles,
    )


def _leaks(run: Run) -> Section:
    toured = tour(run.recorder, run.root / "tour")
    files = scan_files(run.recorder, run.root)
    run.recorder.output("library logs of the proof process", run.library_logs.getvalue())
    return scan(run.recorder, run.sampler, files, toured)


# The report's sections, in the order they run and appear: a new part is its module
# proof/_<name>.py and one line here, before Performance (docs/contributing.md: The proof).
# Performance runs late, on a machine the other parts no longer load; Leaks runs last, since
# it scans the files and processes every other part left behind.
PARTS: tuple[Part, ...] = (
    Part("Faults", _faults),
    Part("Crashes", _crashes),
    Part("Concurrency", _concurrency),
    Part("Engine: create, clocks, publishing", _engine),
    Part(
        "Ownership: revoke only what is provably ours",
        lambda run: ownership(run.root / "ownership", sequences=run.scale.ownership_sequences),
    ),
    Part(
        "AWS Secrets Manager as the store",
        lambda run: secret_store(
            run.recorder,
            run.root / "secretstore",
            rounds=run.scale.store_rounds,
            fault_runs=run.scale.store_fault_runs,
            seed=run.seed,
        ),
    ),
    Part("Hostile service", lambda run: hostile_service(run.recorder, run.root / "hostile")),
    Part(
        "Channels: AWS, sinks, exec, outputs, runner commands",
        lambda run: channels(run.recorder, run.root / "channels"),
    ),
    Part(
        "Emulator as a network service",
        lambda run: emulator_service(run.recorder, run.root / "emulator"),
    ),
    Part("Bad input", lambda run: bad_input(run.recorder, run.root / "bad")),
    Part("Hostile host", lambda run: hostile_host(run.recorder, run.root / "hostile-host")),
    Part("Performance", _performance),
    Part("Leaks", _leaks),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in table.headers) + " |"]
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def _met(figure: Figure) -> str:
    return "" if figure.met is None else ("yes" if figure.met else "**NO**")


def render(sections: list[Section], seconds: float, scale: Scale, seed: int, commit: str) -> str:
    """
    Return PROOF.md; *commit* is its commit line (proof/_provenance.py).
    """
    goals = [f for s in sections for f in s.figures if f.met is not None]
    missed = [(s.title, f) for s in sections for f in s.figures if f.met is False]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# PROOF: reliability, security and performance of spatiafi-ops",
        "",
        "Generated by `make proof` (`python -m proof`); do not edit by hand, regenerate. "
        "Every figure below was measured by that one command in one run, against local "
        "emulators on 127.0.0.1. A release refuses a PROOF.md measured on other code than "
        "its own (docs/releasing.md).",
        "",
        f"- Date: {now}",
        commit,
        f"- Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- Load average (1 min) at start / end: {LOAD_AT_START:.2f} / {os.getloadavg()[0]:.2f} "
        "(other work on the machine slows the timed figures)",
        f"- Run time: {seconds:.0f} s; seed {seed}"
        + ("; reduced scale (`--quick`)" if scale != Scale() else ""),
        f"- Goals met: {len(goals) - len(missed)} of {len(goals)}",
        "",
    ]
    if missed:
        out += ["Goals missed:", ""]
        out += [f"- {title}: {f.name}: {f.value} (goal {f.goal})" for title, f in missed]
        out.append("")
    out += [
        "In-process vs CLI: the 500+ fault runs call the library in worker processes (with a "
        "fast retry policy); the permanent failures, crashes, concurrency, bad input, leak "
        "tour and performance parts run the real CLI (`python -m spatiafi_ops` or the "
        "`spatiafi-ops` console script) as separate processes.",
        "",
    ]
    for section in sections:
        out += [f"## {section.title}", "", f"_{section.seconds:.0f} s._", ""]
        out += _table(
            Table(
                ["figure", "value", "goal", "met"],
                [[f.name, f.value, f.goal, _met(f)] for f in section.figures],
            )
        )
        for table in section.tables:
            out += ["", *_table(table)]
        out.append("")
    out += ["## Notes on method", ""]
    for section in sections:
        if section.notes:
            out += [f"### {section.title}", ""]
            out += [f"- {note}" for note in section.notes]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _timed(part: Part, run: Run) -> Section:
    """
    Run one part; a part that crashes becomes a missed goal, and the others still run.
    """
    started = time.perf_counter()
    try:
        section = part.measure(run)
    except Exception:  # the report must be written whatever one part does
        section = Section(part.title)
        last = traceback.format_exc().strip().splitlines()[-1]
        section.figures.append(
            Figure("this part ran to the end", f"no: {last[:300]}", "yes", False)
        )
    section.seconds = time.perf_counter() - started
    print(f"proof: {section.title}: {section.seconds:.1f} s", file=sys.stderr, flush=True)
    return section


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m proof", description=__doc__.splitlines()[1])
    parser.add_argument("--output", type=Path, default=ROOT / "PROOF.md")
    parser.add_argument("--quick", action="store_true", help="a reduced run, for development")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal was missed")
    options = parser.parse_args()
    scale = QUICK if options.quick else Scale()
    # Before any part runs: the commit and tree this run measures.
    commit = commit_line(ROOT, options.output)
    started = time.perf_counter()
    library_logs = configure_library_logs()
    with tempfile.TemporaryDirectory(prefix="spatiafi-proof-") as tmp, ProcSampler() as sampler:
        run = Run(Recorder(), Path(tmp), scale, options.seed, sampler, library_logs)
        sections = [_timed(part, run) for part in PARTS]
    seconds = time.perf_counter() - started
    options.output.write_text(render(sections, seconds, scale, options.seed, commit))
    missed = [f for s in sections for f in s.figures if f.met is False]
    print(
        f"proof: wrote {options.output} in {seconds:.0f} s; {len(missed)} goals missed",
        file=sys.stderr,
    )
    for figure in missed:
        print(f"  missed: {figure.name}: {figure.value} (goal {figure.goal})", file=sys.stderr)
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
