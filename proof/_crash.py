"""
`make proof`, crashes and concurrency: `credentials rotate` processes killed with SIGKILL at
random instants, then checked and resumed; 8 and 32 concurrent rotations of one profile.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from proof._census import held_client_ids
from proof._common import (
    Completed,
    Figure,
    Recorder,
    Section,
    Table,
    base_env,
    fresh_registry,
    user_env,
)
from proof._servers import emulator
from spatiafi_ops import Settings, SpatiafiOpsError, load_credentials, mint_token
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, Fault

ROTATE = ["credentials", "rotate", "--max-age", "0s", "--grace", "0"]
RESUME = ["credentials", "rotate", "--max-age", "30d", "--grace", "0"]
LATENCY = 0.25
DAY = 86400.0


def _secrets_on_disk(recorder: Recorder, config: Path) -> set[str]:
    """
    Return every client secret that a file under *config* holds; add them to the scan.
    """
    found: set[str] = set()
    for path in config.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found.update(part.split('"')[0] for part in text.split('"client_secret": "')[1:])
    recorder.add_secrets(found, "client secret (from a file)")
    return found


def _phase(config: Path, before: str | None) -> str:
    """
    Name what a killed rotation left: the journal phase, or what the store shows.
    """
    current, _kept = held_client_ids(config)
    try:
        state = json.loads((config / "rotation-state.json").read_text())
    except (OSError, ValueError):
        return "no rotation state"
    rotation = state.get("rotation")
    if rotation:
        attempts = " (create sent, answer lost)" if rotation.get("create_attempts") else ""
        return f"journal: {rotation.get('phase')}{attempts}"
    if state.get("previous"):
        return "switched, old client not yet revoked"
    if current != before:
        return "rotation finished, process not yet exited"
    return "nothing written yet (start-up, login or lock)"


def store_mints(settings: Settings, problems: list[str] | None = None) -> tuple[bool, bool]:
    """
    Return whether the store and the rotation state parse, and whether the stored
    credential mints a token (library calls, as a consumer would make them); say why not
    in *problems*.
    """
    state = settings.resolved_config_dir() / "rotation-state.json"
    notes = problems if problems is not None else []
    with fresh_registry():
        try:
            current = load_credentials(settings, environ={})
            if state.exists() and not isinstance(json.loads(state.read_text()), dict):
                notes.append(f"{state.name} does not hold a JSON object")
                return False, False
        except (SpatiafiOpsError, ValueError) as exc:
            notes.append(f"store does not parse: {type(exc).__name__}: {exc}")
            return False, False
        try:
            mint_token(current, settings)
        except SpatiafiOpsError as exc:
            notes.append(f"stored credential does not mint: {type(exc).__name__}: {exc}")
            return True, False
        return True, True


@dataclass
class LaneResult:
    kills: int = 0
    finished_before_kill: int = 0
    recoveries: int = 0
    parse_failures: int = 0
    mint_failures: int = 0
    rerun_failures: int = 0
    max_new_clients: int = 0
    clients_lost: int = 0
    secrets_lost: int = 0
    reported_orphans: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    stray_temp_files: int = 0
    problems: list[str] = field(default_factory=list)


def crash_lane(
    recorder: Recorder, root: Path, kills: int, seed: int, max_iterations: int
) -> LaneResult:
    """
    Kill `rotate` at random instants until *kills* landed mid-run; check after each.
    """
    rng = random.Random(seed)  # reproducible instants, not a secret
    lane = LaneResult()
    with emulator(recorder) as (handle, tap):
        env = base_env(root, handle.url, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        config = root / "config"
        settings = Settings(auth_url=handle.url, config_dir=config, cache_dir=root / "cache")
        # One machine per account: a killed create's client is revoked, not only reported.
        setup = ["credentials", "ensure", "--exclusive-account"]
        recorder.run(setup, env, label="crash setup")
        slow = Fault(route="*", kind="latency", latency=LATENCY)
        handle.set_faults(slow)
        calibration = recorder.run(ROTATE, env, label="crash calibration")
        window = calibration.seconds
        for _ in range(max_iterations):
            if lane.kills >= kills:
                break
            handle.set_faults(slow)
            before, _kept = held_client_ids(config)
            started = time.perf_counter()
            process = recorder.spawn([*_cli(), *ROTATE], env)
            time.sleep(rng.uniform(0.0, window))
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            done = recorder.finish(process, started, label="crash killed rotate")
            if not killed or done.code != -signal.SIGKILL:
                lane.finished_before_kill += 1
                continue
            lane.kills += 1
            lane.phases[_phase(config, before)] += 1
            _check_recovery(recorder, handle, tap.client_secrets, env, settings, lane)
        lane.stray_temp_files = len(list(config.rglob(".*.tmp")))
    return lane


def _cli() -> list[str]:
    from proof._common import CLI

    return list(CLI)


def _check_recovery(
    recorder: Recorder,
    handle: EmulatorHandle,
    issued: dict[str, str],
    env: dict[str, str],
    settings: Settings,
    lane: LaneResult,
) -> None:
    config = settings.resolved_config_dir()
    _secrets_on_disk(recorder, config)
    parses, mints = store_mints(settings, lane.problems)
    lane.parse_failures += not parses
    lane.mint_failures += not mints
    handle.clear_faults()
    creates = handle.count("clients")
    resumed: Completed = recorder.run(RESUME, env, label="crash resume")
    new_clients = handle.count("clients") - creates
    lane.max_new_clients = max(lane.max_new_clients, new_clients)
    if resumed.code != 0:
        lane.rerun_failures += 1
        lane.problems.append(f"resume exited {resumed.code}: {resumed.stderr[-300:]}")
        return
    on_disk = _secrets_on_disk(recorder, config)
    current, kept = held_client_ids(config)
    live = {str(client["client_id"]) for client in handle.clients()}
    state = json.loads((config / "rotation-state.json").read_text())
    reported = set(state.get("orphaned_client_ids", [])) | set(
        state.get("manual_revoke_client_ids", [])
    )
    lost_client = current is None or current not in live
    lane.clients_lost += lost_client
    for client_id in live - {current}:
        if issued.get(client_id) in on_disk:
            continue  # its secret is kept: not lost (and counted as a leftover below)
        if client_id in reported:
            lane.reported_orphans += 1
        else:
            lane.secrets_lost += 1
    parses, mints = store_mints(settings, lane.problems)
    converged = parses and mints and not lost_client and live == {current} and new_clients <= 1
    if converged:
        lane.recoveries += 1
    else:
        lane.problems.append(
            f"not converged: live {len(live)}, current live {not lost_client}, mints {mints}, "
            f"new clients {new_clients}, kept {len(kept)}"
        )


def crashes(recorder: Recorder, root: Path, *, kills: int, lanes: int, seed: int) -> Section:
    """
    Run *lanes* crash lanes in parallel (each its own emulator and profile).
    """
    section = Section("Crashes: SIGKILL during `credentials rotate`")
    per_lane = -(-kills // lanes)
    results: list[LaneResult] = [LaneResult() for _ in range(lanes)]
    started = time.perf_counter()

    def lane(index: int) -> None:
        results[index] = crash_lane(
            recorder, root / f"lane-{index}", per_lane, seed + index, per_lane * 3
        )

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    total = LaneResult()
    for result in results:
        for name in (
            "kills",
            "finished_before_kill",
            "recoveries",
            "parse_failures",
            "mint_failures",
            "rerun_failures",
            "clients_lost",
            "secrets_lost",
            "reported_orphans",
            "stray_temp_files",
        ):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.max_new_clients = max(total.max_new_clients, result.max_new_clients)
        total.phases.update(result.phases)
        total.problems += result.problems
    figures = section.figures
    figures.append(
        Figure("kills mid-run (SIGKILL)", str(total.kills), f">= {kills}", total.kills >= kills)
    )
    figures.append(
        Figure(
            "after each kill: store and rotation state parse",
            f"{total.kills - total.parse_failures}/{total.kills}",
            "all",
            total.parse_failures == 0,
        )
    )
    figures.append(
        Figure(
            "after each kill: the stored credential mints",
            f"{total.kills - total.mint_failures}/{total.kills}",
            "all",
            total.mint_failures == 0,
        )
    )
    figures.append(
        Figure(
            "recoveries (rerun exit 0, one live client = the stored one, it mints)",
            f"{total.recoveries}/{total.kills}",
            "all",
            total.recoveries == total.kills,
        )
    )
    figures.append(
        Figure(
            "most new clients created by one rerun",
            str(total.max_new_clients),
            "<= 1",
            total.max_new_clients <= 1,
        )
    )
    figures.append(
        Figure(
            "clients lost (stored client gone at the service)",
            str(total.clients_lost),
            "0",
            total.clients_lost == 0,
        )
    )
    figures.append(
        Figure(
            "secrets lost (live client, secret on no disk, not reported)",
            str(total.secrets_lost),
            "0",
            total.secrets_lost == 0,
        )
    )
    figures.append(
        Figure("live orphans reported for manual revocation", str(total.reported_orphans))
    )
    figures.append(
        Figure(
            "stray temp files left by kills (0600, inside the 0700 store)",
            str(total.stray_temp_files),
        )
    )
    section.tables.append(
        Table(
            ["state found after the kill", "kills"],
            [[phase, str(count)] for phase, count in total.phases.most_common()],
        )
    )
    section.notes += [
        f"CLI processes: `python -m spatiafi_ops {' '.join(ROTATE)}` against an emulator adding "
        f"{LATENCY * 1000:.0f} ms to every request, killed with SIGKILL after a uniformly random "
        "delay (seeded) between 0 and the duration of an unkilled run (start-up included); "
        f"Runs that finished before their instant do not count: {total.finished_before_kill}. "
        f"{lanes} lanes ran in parallel, each with its own emulator and profile; "
        f"{seconds:.1f} s wall.",
        "After each kill: the store and `rotation-state.json` are parsed and the stored "
        "credential mints a token (library calls), then `credentials rotate --max-age 30d "
        "--grace 0` (CLI, no faults) must exit 0, create at most one client, and leave exactly "
        "one live client at the emulator, the stored one. A live client that is not the stored "
        "one counts as a lost secret unless a file keeps its secret or the state reports it.",
    ]
    section.notes += [f"Problem: {problem}" for problem in total.problems[:5]]
    return section
