"""
`make proof`, faults: token (cache off), ensure and rotate under 30 % transient failures,
then the permanent failures that must stop after one request with exit 3.

The 500+ runs use the library in worker processes (one run at a time per process, each
with its own secret registry, as a CLI process has) with a fast retry policy; the
permanent failures run the real CLI.
"""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from proof._census import Census, client_census
from proof._common import (
    Figure,
    Recorder,
    Section,
    Table,
    pct,
)
from proof._servers import emulator
from proof._worker import (
    OPS,
    POLICY,
    PRELOAD,
    RERUNS,
    CycleResult,
    CycleTask,
    RunRecord,
    converge_cycle,
    run_cycle,
)
from spatiafi_ops.emulator import EmulatorHandle, Fault

FAILURE_RATE = 0.30
POOL_TIMEOUT = 300.0  # seconds for all the runs of one map; each run has a 60 s deadline
SPIKE_RATE = 0.03
SPIKE_SECONDS = 2.0
# (label, share of all requests, fault settings); the shares add up to FAILURE_RATE.
MIX: tuple[tuple[str, float, dict[str, object]], ...] = (
    ("500 (plain text)", 0.025, {"status": 500}),
    ("500 after processing", 0.025, {"status": 500, "after": True}),
    ("502 (nginx HTML)", 0.025, {"status": 502}),
    ("502 after processing", 0.025, {"status": 502, "after": True}),
    ("503", 0.05, {"status": 503}),
    ("429 + Retry-After: 1", 0.05, {"status": 429, "retry_after": 1}),
    ("connection dropped", 0.025, {"kind": "drop"}),
    ("dropped after processing", 0.025, {"kind": "drop", "after": True}),
    ("connection reset", 0.025, {"kind": "reset"}),
    ("reset after processing", 0.025, {"kind": "reset", "after": True}),
)


def fault_mix() -> list[Fault]:
    """
    Return rules whose first match gives each failure its share of all requests.

    The emulator applies the first rule that fires, so rule i fires with probability
    share / (1 - shares before it); the latency spike rule draws independently.
    """
    rules = []
    taken = 0.0
    for _label, share, settings in MIX:
        rules.append(Fault(route="*", probability=share / (1.0 - taken), **settings))  # type: ignore[arg-type]
        taken += share
    rules.append(Fault(route="*", kind="latency", latency=SPIKE_SECONDS, probability=SPIKE_RATE))
    return rules


def _run_pool(
    recorder: Recorder,
    pool: ProcessPoolExecutor,
    fn: Callable[[CycleTask], CycleResult],
    tasks: list[CycleTask],
) -> list[CycleResult]:
    results = list(pool.map(fn, tasks, timeout=POOL_TIMEOUT))
    for result in results:
        for label, text in result.texts:
            recorder.output(f"in-process {label}", text)
    return results


def _accounts(
    recorder: Recorder, handle: EmulatorHandle, root: Path, count: int
) -> tuple[list[CycleTask], dict[str, str]]:
    tasks, user_ids = [], {}
    for index in range(count):
        email, password = f"proof-{index}@example.com", secrets.token_urlsafe(18)
        recorder.add_secrets([password], "password")
        user_ids[email] = str(handle.create_user(email, password)["id"])
        tasks.append(
            CycleTask(index, handle.url, email, password, str(root / f"account-{index:03d}"))
        )
    return tasks, user_ids


@dataclass
class FaultRun:
    """
    What the faulted runs produced, for the report.
    """

    results: list[CycleResult]
    converged: list[CycleResult]
    counters: dict[str, int]
    injected: int
    ideal: int
    before: Census
    after: Census
    seconds: float

    @property
    def runs(self) -> list[RunRecord]:
        return [run for result in self.results for run in result.runs]

    @property
    def requests(self) -> int:
        return sum(self.counters.values())


def transient_faults(
    recorder: Recorder, root: Path, *, cycles: int, workers: int, seed: int
) -> Section:
    """
    Run OPS for *cycles* accounts against an emulator failing 30 % of requests; report.
    """
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a clean server that imported the library once.
    context.set_forkserver_preload(PRELOAD)
    with (
        emulator(recorder, seed=seed) as (handle, tap),
        ProcessPoolExecutor(workers, mp_context=context) as pool,
    ):
        tasks, user_ids = _accounts(recorder, handle, root, cycles + 1)
        baseline, tasks = tasks[0], tasks[1:]
        handle.reset()
        _run_pool(recorder, pool, run_cycle, [baseline])
        ideal = sum(handle.counters().values())

        handle.reset()
        injected_before = tap.injected
        handle.set_faults(*fault_mix(), seed=seed)
        started = time.perf_counter()
        results = _run_pool(recorder, pool, run_cycle, tasks)
        seconds = time.perf_counter() - started
        counters = handle.counters()
        injected = tap.injected - injected_before
        handle.clear_faults()
        configs = {task.email: Path(task.root) / "config" for task in tasks}
        before = client_census(handle, configs, user_ids)
        converged = _run_pool(recorder, pool, converge_cycle, tasks)
        after = client_census(handle, configs, user_ids)
    run = FaultRun(results, converged, counters, injected, ideal, before, after, seconds)
    section = Section("Faults: 30 % of requests failing transiently")
    section.figures += _rate_figures(run, cycles) + _client_figures(run, cycles)
    section.tables += _tables(run)
    section.notes += _notes(run, cycles, workers, seed)
    return section


def _rate_figures(run: FaultRun, cycles: int) -> list[Figure]:
    runs, requests, injected = run.runs, run.requests, run.injected
    totals = {op: sum(r.op == op for r in runs) for op in ("token", "ensure", "rotate")}
    figures = [
        Figure(
            "runs: token / ensure / rotate (reruns included)",
            f"{len(runs)}: " + " / ".join(str(totals[op]) for op in totals),
            ">= 500",
            len(runs) >= 500,
        )
    ]
    for op, total in totals.items():
        good = sum(r.ok for r in runs if r.op == op)
        figures.append(
            Figure(
                f"success rate, {op}",
                f"{pct(good, total)} ({good}/{total})",
                "100 %",
                good == total,
            )
        )
    failed = [r for r in runs if not r.ok]
    figures.append(
        Figure(
            "success rate, all runs", pct(len(runs) - len(failed), len(runs)), "100 %", not failed
        )
    )
    finished = sum(
        1
        for result in run.results
        for first, second in zip(result.runs, result.runs[1:], strict=False)
        if not first.ok and second.rerun and second.ok
    )
    if failed:
        figures.append(
            Figure("failed runs finished by the immediate rerun", f"{finished}/{len(failed)}")
        )
    figures.append(
        Figure(
            "injected failures / requests",
            f"{injected}/{requests} = {pct(injected, requests)}",
            "30 %",
        )
    )
    figures.append(
        Figure(
            "attempts per success (requests sent / requests answered without a fault)",
            f"{requests / (requests - injected):.2f}" if requests > injected else "n/a",
            "1/(1-0.30) = 1.43",
        )
    )
    per_cycle = requests / cycles
    figures.append(
        Figure(
            "requests per account cycle, faulted / fault-free",
            f"{per_cycle:.1f} / {run.ideal} = {per_cycle / run.ideal:.2f}" if run.ideal else "n/a",
        )
    )
    return figures


def _client_figures(run: FaultRun, cycles: int) -> list[Figure]:
    before, after = run.before, run.after
    orphans = sum(len(result.orphans_reported) for result in run.results)
    converged = all(r.ok for result in run.converged for r in result.runs)
    return [
        Figure(
            "clients created by lost answers, found and revoked by reconciliation", str(orphans)
        ),
        Figure(
            "duplicate or orphaned clients (live, secret on no disk), right after the runs",
            str(before.unaccounted),
            "0",
            before.unaccounted == 0,
        ),
        Figure(
            "live clients of interrupted rotations (secret journaled), right after the runs",
            str(before.in_flight),
        ),
        Figure(
            "duplicate or orphaned clients after one clean `ensure` + `rotate` per account",
            f"{after.unaccounted} (+{after.in_flight} kept); "
            f"live {after.live} for {cycles} accounts",
            "0",
            after.unaccounted == 0 and after.in_flight == 0,
        ),
        Figure(
            "profiles whose stored client was gone at the service",
            f"{before.broken} after the runs, {after.broken} after convergence",
            "0",
            before.broken == 0 and after.broken == 0,
        ),
        Figure(
            "convergence runs that succeeded", "all" if converged else "NOT all", "all", converged
        ),
    ]


def _tables(run: FaultRun) -> list[Table]:
    groups: dict[tuple[str, int, str], list[RunRecord]] = {}
    for record in run.runs:
        if not record.ok:
            groups.setdefault((record.op, record.exit_code, record.error), []).append(record)
    failed = Table(
        ["failed run", "exit", "count", "first message"],
        [
            [f"{op} ({error})", str(code), str(len(items)), items[0].message[:200]]
            for (op, code, error), items in sorted(groups.items())
        ],
    )
    mix = [[label, f"{share * 100:.1f} %"] for label, share, _ in MIX]
    mix.append(
        [f"latency spike of {SPIKE_SECONDS:g} s (independent, on top)", f"{SPIKE_RATE * 100:.1f} %"]
    )
    return [failed, Table(["failure injected on every route", "share of requests"], mix)]


def _notes(run: FaultRun, cycles: int, workers: int, seed: int) -> list[str]:
    return [
        f"In-process (library, not CLI): {cycles} accounts, each with its own config dir (one "
        f"machine), ran {' → '.join(OPS)}; a failed run was rerun at once (at most {RERUNS} "
        f"times, counted as runs). {workers} worker processes ran one run at a time each, "
        "with a fresh secret registry per run as a CLI process has; "
        f"RetryPolicy(initial={POLICY['initial']}, maximum={POLICY['maximum']}), the default "
        "10 s timeout and 60 s deadline. token = `load_credentials` + `mint_token` (what "
        "`token --no-cache` does); rotate = `max_age=0, grace=0`. "
        f"Fault seed {seed}; {run.seconds:.1f} s wall.",
        f"The emulator counted {run.requests} requests: "
        + ", ".join(f"{k} {v}" for k, v in sorted(run.counters.items()))
        + ".",
        "'after processing' faults run the real handler first (the client is created, the "
        "token issued) and then lose the answer: the ambiguous failures that reconciliation "
        "must resolve. The 2 s spikes stay under the 10 s timeout, so they slow requests "
        "down without failing them.",
        "Convergence: faults cleared, each account ran `ensure` then `rotate --max-age 30d "
        "--grace 0` once, which finishes interrupted journals and revokes due previous clients.",
    ]
