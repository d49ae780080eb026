"""
`make proof`, concurrency: 8 and 32 `credentials rotate` processes at once on one profile.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from proof._census import held_client_ids
from proof._common import CLI, Figure, Recorder, Section, Table, base_env, user_env, write_private
from proof._crash import RESUME, store_mints
from proof._servers import emulator
from spatiafi_ops import Settings
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault

DAY = 86400.0


def _age(config: Path, seconds: float) -> None:
    path = config / "app_credentials.json"
    data = json.loads(path.read_text())
    data["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
    write_private(path, (json.dumps(data, indent=2) + "\n").encode())


def concurrency(recorder: Recorder, root: Path, *, sizes: tuple[tuple[int, int], ...]) -> Section:
    """
    Start N `rotate` processes at once on one due profile; exactly one must rotate.
    """
    section = Section("Concurrency: parallel `credentials rotate` on one profile")
    rows: list[list[str]] = []
    all_met = True
    started = time.perf_counter()
    with emulator(recorder) as (handle, _tap):
        env = base_env(root, handle.url, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        config = root / "config"
        settings = Settings(auth_url=handle.url, config_dir=config, cache_dir=root / "cache")
        recorder.run(["credentials", "ensure"], env, label="concurrency setup")
        handle.set_faults(Fault(route="*", kind="latency", latency=0.05))
        for size, rounds in sizes:
            for round_ in range(1, rounds + 1):
                _age(config, 40 * DAY)
                t0 = time.perf_counter()
                processes = [
                    (time.perf_counter(), recorder.spawn([*CLI, *RESUME], env)) for _ in range(size)
                ]
                done = [
                    recorder.finish(p, t, label=f"concurrent rotate x{size}") for t, p in processes
                ]
                seconds = time.perf_counter() - t0
                actions: Counter[str] = Counter()
                for item in done:
                    if item.code != 0:
                        actions[f"exit {item.code}"] += 1
                        continue
                    result = json.loads(item.stdout)
                    key = str(result["action"])
                    if key == "unchanged" and "lock" in str(result.get("reason")):
                        key = "unchanged (lock held)"
                    elif key == "unchanged":
                        key = "unchanged (not due)"
                    actions[key] += 1
                live = {str(c["client_id"]) for c in handle.clients()}
                current, _kept = held_client_ids(config)
                mints = store_mints(settings)[1]
                met = (
                    actions["rotated"] == 1
                    and sum(actions.values()) == size
                    and live == {current}
                    and mints
                )
                met = met and not any(key.startswith("exit") for key in actions)
                all_met &= met
                rows.append(
                    [
                        str(size),
                        str(round_),
                        str(actions["rotated"]),
                        ", ".join(
                            f"{k}: {v}" for k, v in sorted(actions.items()) if k != "rotated"
                        ),
                        f"{len(live)}, mints" if mints else f"{len(live)}, DOES NOT MINT",
                        f"{seconds:.1f} s",
                        "yes" if met else "NO",
                    ]
                )
    section.figures.append(
        Figure(
            "rounds with exactly one rotation (and one live, minting client)",
            f"{sum(r[-1] == 'yes' for r in rows)}/{len(rows)}",
            "all",
            all_met,
        )
    )
    section.tables.append(
        Table(
            [
                "processes",
                "round",
                "rotated",
                "others (all exit 0?)",
                "live clients",
                "wall",
                "met",
            ],
            rows,
        )
    )
    section.notes.append(
        "CLI processes started together on one profile whose credential was made 40 days old "
        "before each round: `credentials rotate --max-age 30d --grace 0`, 50 ms latency per "
        "request. `--max-age 30d` rather than `0s`: with `0s` every process that takes the lock "
        "after the first one finished would rightly rotate again (a fresh credential is not "
        "younger than 0 s), so 'exactly one' would measure process start-up skew, not the lock. "
        f"{time.perf_counter() - started:.1f} s wall."
    )
    return section
