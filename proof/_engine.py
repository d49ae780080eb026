"""
`make proof`, the engine and its consumers: lost create answers on `credentials create`,
runs with the client clock ±10 minutes off the service, publishing to sinks that fail 30 %
of the time, and SIGKILL while publishing.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from proof._common import Figure, Recorder, Section, Table, base_env, pct, user_env
from proof._servers import emulator
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, Fault

LOGIN = user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)
CREATE = ["credentials", "create"]
ROTATE_NOW = ["credentials", "rotate", "--max-age", "0", "--grace", "0"]

# A sink that fails transiently (EX_TEMPFAIL) with probability P, else stores its stdin; it
# also writes what it can see of itself (argv, environment) for the leak scan.
FLAKY_SINK = """\
import json, os, random, sys
data = sys.stdin.read()
root = sys.argv[1]
with open(os.path.join(root, "sink-seen.log"), "a") as seen:
    seen.write(json.dumps({"argv": sys.argv, "env": dict(os.environ)}) + "\\n")
if random.random() < float(sys.argv[2]):
    sys.exit(75)
with open(os.path.join(root, "sink-published.json.tmp"), "w") as out:
    out.write(data)
os.replace(os.path.join(root, "sink-published.json.tmp"), os.path.join(root, "sink-published.json"))
"""


def _live(handle: EmulatorHandle) -> set[str]:
    return {client["client_id"] for client in handle.clients()}


def _stored(config: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((config / "app_credentials.json").read_text())
    return data


def lost_creates(recorder: Recorder, root: Path, runs: int) -> tuple[list[Figure], Table]:
    """
    `credentials create` whose answer is lost after the service made the client (502 after
    processing, or a dropped connection): reconciled in the same run on a service that lists
    clients; journaled and finished by the rerun on one that cannot.
    """
    rows = []
    ok = 0
    extra_clients = 0
    for index in range(runs):
        kind = ("status", "drop")[index % 2]
        fault = (
            Fault(route="clients", status=502, after=True, times=1)
            if kind == "status"
            else Fault(route="clients", kind="drop", after=True, times=1)
        )
        with emulator(recorder) as (handle, _tap):
            handle.set_faults(fault)
            lane = root / f"listed-{index}"
            env = base_env(lane, handle.url, **LOGIN)
            exclusive = [*CREATE, "--exclusive-account"]  # one machine on this account
            done = recorder.run(exclusive, env, label="lost create (listed)")
            live = _live(handle)
            good = done.code == 0 and live == {_stored(lane / "config")["client_id"]}
            ok += good
            extra_clients += max(0, len(live) - 1)
    rows.append(["service lists clients", f"{runs}", f"{ok}/{runs}", f"{extra_clients}"])
    figures = [
        Figure(
            "lost create answers on `create --exclusive-account`, service lists clients: one live "
            "client, stored",
            f"{ok}/{runs}",
            "all",
            ok == runs,
        )
    ]
    finished = 0
    reported = 0
    unlisted_runs = max(2, runs // 2)
    for index in range(unlisted_runs):
        with emulator(recorder, client_management=False) as (handle, _tap):
            handle.set_faults(Fault(route="clients", status=502, after=True, times=1))
            lane = root / f"unlisted-{index}"
            env = base_env(lane, handle.url, **LOGIN)
            first = recorder.run(CREATE, env, label="lost create (unlisted)")
            journal = json.loads((lane / "config" / "rotation-state.json").read_text())
            said = first.code == 4 and "may have created a client" in first.stderr
            rerun = recorder.run(CREATE, env, label="lost create rerun (unlisted)")
            out = json.loads(rerun.stdout) if rerun.code == 0 else {}
            finished += said and bool(journal["rotation"]) and out.get("resumed") is True
            reported += "cannot list" in first.stderr
    rows.append(
        ["service cannot list", f"{unlisted_runs}", f"{finished}/{unlisted_runs}", "1 (reported)"]
    )
    figures.append(
        Figure(
            "lost create answers on `create`, no listing: exit 4 saying so and reporting "
            "the possible orphan, journaled; the rerun finishes it",
            f"{finished}/{unlisted_runs} finished, {reported}/{unlisted_runs} reported",
            "all",
            finished == reported == unlisted_runs,
        )
    )
    table = Table(
        ["lost create answer", "runs", "converged", "clients beyond the stored one"], rows
    )
    return figures, table


def skewed_clocks(recorder: Recorder, root: Path) -> tuple[list[Figure], Table]:
    """
    ensure, token, rotate and ensure again with the client clock 10 minutes ahead of the
    service and 10 minutes behind (the emulator's clock moved the other way).
    """
    rows = []
    created_total = exit3 = failed = 0
    for offset in (-600.0, 600.0):
        with emulator(recorder, clock_offset=offset) as (handle, _tap):
            lane = root / f"skew{int(offset)}"
            env = base_env(lane, handle.url, **LOGIN)
            codes = []
            for args in (
                ["credentials", "ensure"],
                ["token"],
                ["token", "--no-cache"],
                ROTATE_NOW,
                ["credentials", "ensure"],
                ["doctor"],
            ):
                done = recorder.run(args, env, label=f"clock {offset:+.0f}s", intended_stdout=True)
                codes.append(done.code)
            creates = handle.count("clients")
            created_total += max(0, creates - 2)  # ensure's first client and the rotation's
            exit3 += codes.count(3)
            failed += sum(code != 0 for code in codes)
            side = "ahead of" if offset < 0 else "behind"
            rows.append(
                [f"client 10 min {side} the service", " ".join(map(str, codes)), str(creates)]
            )
    figures = [
        Figure(
            "client clock ±10 min: clients created beyond those the runs need",
            str(created_total),
            "0",
            created_total == 0,
        ),
        Figure("client clock ±10 min: runs exiting 3", str(exit3), "0", exit3 == 0),
        Figure(
            "client clock ±10 min: ensure, token, rotate, doctor all succeed",
            f"{12 - failed}/12",
            "all",
            failed == 0,
        ),
    ]
    table = Table(
        ["clock", "exit codes (ensure token token rotate ensure doctor)", "creates"], rows
    )
    return figures, table


def flaky_sinks(
    recorder: Recorder, root: Path, rotations: int, seed: int
) -> tuple[list[Figure], list[str]]:
    """
    Rotations publishing to a sink that fails transiently 30 % of the time: the old client is
    never revoked before the sink holds the new one; every run converges.
    """
    rng = random.Random(seed)
    script = root / "flaky_sink.py"
    root.mkdir(parents=True, exist_ok=True)
    script.write_text(FLAKY_SINK)
    premature = 0
    runs = 0
    failed_runs = 0
    with emulator(recorder) as (handle, _tap):
        env = base_env(root, handle.url, **LOGIN)
        recorder.run(["credentials", "ensure"], env, label="sinks: ensure")
        for _ in range(rotations):
            probability = "0.3"
            sink = f"command:{sys.executable} '{script}' '{root}' {probability}"
            env_run = {**env, "SPATIAFI_PUBLISH": sink}
            for attempt in range(6):  # a failed sink: the next run (cron's) resumes
                runs += 1
                args = ROTATE_NOW if attempt == 0 else ["credentials", "rotate", "--grace", "0"]
                done = recorder.run(args, env_run, label="sinks: rotate")
                failed_runs += done.code != 0
                current = _stored(root / "config")["client_id"]
                live = _live(handle)
                shared = root / "sink-published.json"
                published = json.loads(shared.read_text())["client_id"] if shared.exists() else ""
                if len(live) == 1 and published != current:
                    premature += 1  # the old client is gone but the sink lacks the new one
                if done.code == 0:
                    break
            rng.random()
        converged = len(_live(handle)) == 1
    seen = (root / "sink-seen.log").read_text() if (root / "sink-seen.log").exists() else ""
    secrets = json.loads((root / "config" / "app_credentials.json").read_text())["client_secret"]
    leaked = secrets in seen or DEFAULT_PASSWORD in seen
    figures = [
        Figure(
            f"{rotations} rotations, 30 % of sink calls failing: clients revoked before the "
            "sink had the new one",
            str(premature),
            "0",
            premature == 0,
        ),
        Figure(
            "… runs (failed runs resumed by the next)",
            f"{runs} runs, {failed_runs} exited 4 ({pct(failed_runs, runs)}), converged: "
            f"{'yes' if converged else 'no'}",
            "converged",
            converged,
        ),
        Figure(
            "secrets in the argv or environment of sink processes",
            "found" if leaked else "0",
            "0",
            not leaked,
        ),
    ]
    return figures, [seen]


def publish_kills(recorder: Recorder, root: Path, kills: int, seed: int) -> Figure:
    """
    SIGKILL while publishing (before a sink is written, or after, before it is recorded):
    the rerun converges with one new client and the sink holding it.
    """
    rng = random.Random(seed)
    good = 0
    for index in range(kills):
        step = rng.choice(("publishing", "published"))
        lane = root / f"kill-{index}"
        with emulator(recorder) as (handle, _tap):
            env = base_env(lane, handle.url, **LOGIN)
            recorder.run(["credentials", "ensure"], env, label="publish kill: ensure")
            shared = lane / "sink-published.json"
            sink = f"command:umask 077; cat > '{shared}'"
            env_run = {**env, "SPATIAFI_PUBLISH": sink}
            killed = recorder.run(
                ROTATE_NOW, {**env_run, "SPATIAFI_OPS_CRASH_AT": step}, label="publish kill"
            )
            rerun = recorder.run(
                ["credentials", "rotate", "--grace", "0"], env_run, label="publish kill rerun"
            )
            current = _stored(lane / "config")["client_id"]
            creates = handle.count("clients")
            good += (
                killed.code < 0
                and rerun.code == 0
                and _live(handle) == {current}
                and json.loads(shared.read_text())["client_id"] == current
                and creates == 2  # ensure's and the rotation's: no other
            )
    return Figure(
        "SIGKILL while publishing: rerun converges, one new client, the sink holds it",
        f"{good}/{kills}",
        "all",
        good == kills,
    )


def engine(
    recorder: Recorder, root: Path, *, lost: int, rotations: int, kills: int, seed: int
) -> Section:
    """
    The engine's section of PROOF.md.
    """
    section = Section("Engine: create, clocks, publishing")
    figures, table = lost_creates(recorder, root / "lost", lost)
    section.figures += figures
    section.tables.append(table)
    figures, table = skewed_clocks(recorder, root / "skew")
    section.figures += figures
    section.tables.append(table)
    figures, seen = flaky_sinks(recorder, root / "sinks", rotations, seed)
    section.figures += figures
    recorder.output("sink processes' argv and environment", *seen)
    section.figures.append(publish_kills(recorder, root / "kills", kills, seed))
    section.notes += [
        "Lost creates: the emulator makes the client, then answers 502 or drops the connection "
        "(`after`); on an `--exclusive-account` profile the CLI reconciles by listing "
        "clients, revokes the orphan and creates again, or (no listing) exits 4 with the "
        "attempt journaled.",
        "Clocks: the emulator's clock is moved ±600 s (its Date header, token times and "
        "assertion checks), which is what a client clock off by ∓600 s looks like.",
        "Sinks: a Python command sink exits 75 (EX_TEMPFAIL) with probability 0.3; after each "
        "run the store, the service's clients and the sink's file are compared. The sink also "
        "records its own argv and environment, which the leak scan reads.",
    ]
    return section
