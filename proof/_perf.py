"""
`make proof`, performance: `token` against its baselines side by side, requests per mint,
emulator mints/s, fleet rotation against its ideal time, and the peak RSS of `token`.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import bench_fleet, bench_token
from proof._common import (
    Figure,
    Recorder,
    Section,
    base_env,
    user_env,
)
from proof._servers import emulator
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("spatiafi-ops"))
RSS_PROBE = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,"
    " check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _timed(
    recorder: Recorder, argv: list[str], env: dict[str, str], stdin: str | None = None
) -> float:
    started = time.perf_counter()
    process = recorder.spawn(argv, env, stdin=stdin is not None)
    done = recorder.finish(process, started, label="perf", intended_stdout=True, input=stdin)
    if done.code != 0:
        raise RuntimeError(f"benchmark command {argv[:4]} failed: {done.stderr[-300:]}")
    return done.seconds


def token_ratios(recorder: Recorder, root: Path, runs: int) -> list[Figure]:
    """
    Cached and cache-miss `token` against their baselines, interleaved, medians.
    """
    with emulator(recorder) as (handle, _tap):
        env = base_env(root, handle.url, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        for name in ("SPATIAFI_CONFIG_DIR", "SPATIAFI_CACHE_DIR", "SPATIAFI_LOG_FORMAT"):
            del env[name]  # platformdirs' defaults under a scratch HOME: the path users take
        _timed(recorder, [CONSOLE_SCRIPT, "credentials", "create"], env)
        _timed(recorder, [CONSOLE_SCRIPT, "token"], env)  # warm the cache and the .pyc files
        bare = [sys.executable, "-c", bench_token.BARE_IMPORT]
        base_cached, cached = [], []
        for _ in range(runs):
            base_cached.append(_timed(recorder, bare, env))
            cached.append(_timed(recorder, [CONSOLE_SCRIPT, "token"], env))
        # The profile `credentials create` wrote: both sides mint with the same client,
        # and no argv carries a secret (README: Security).
        credentials_file = Path(env["HOME"], ".config", "spatiafi", "app_credentials.json")
        by_hand = [
            sys.executable,
            "-c",
            bench_token.AUTHLIB_BY_HAND,
            handle.token_url,
            str(credentials_file),
        ]
        handle.reset()
        base_miss, miss = [], []
        for _ in range(runs):
            base_miss.append(_timed(recorder, by_hand, env))
            miss.append(_timed(recorder, [CONSOLE_SCRIPT, "token", "--no-cache"], env))
        per_mint = (handle.count("token") - runs) / runs
    m = statistics.median
    cached_ratio = m(cached) / m(base_cached)
    miss_ratio = m(miss) / m(base_miss)
    return [
        Figure(
            "bare import of requests+authlib+structlog+click+tenacity",
            f"{m(base_cached) * 1000:.0f} ms",
        ),
        Figure("`spatiafi-ops token`, cached", f"{m(cached) * 1000:.0f} ms"),
        Figure(
            "cached `token` / bare import", f"{cached_ratio:.2f}", "<= 0.25", cached_ratio <= 0.25
        ),
        Figure(
            "a mint written by hand with authlib (`OAuth2Session` + `ClientSecretJWT`)",
            f"{m(base_miss) * 1000:.0f} ms",
        ),
        Figure("`spatiafi-ops token --no-cache` (cache miss)", f"{m(miss) * 1000:.0f} ms"),
        Figure(
            "cache-miss `token` / authlib by hand",
            f"{miss_ratio:.2f}",
            "<= 1.0",
            miss_ratio <= 1.0,
        ),
        Figure("requests per mint (emulator counter)", f"{per_mint:.2f}", "1", per_mint == 1),
    ]


def emulator_rate(recorder: Recorder, root: Path, duration: float) -> Figure:
    """
    Run benchmarks/bench_emulator.py and read its mints/s.
    """
    argv = [sys.executable, str(BENCHMARKS / "bench_emulator.py"), "--duration", f"{duration:g}"]
    started = time.perf_counter()
    done = recorder.finish(
        recorder.spawn(argv, base_env(root, "http://127.0.0.1")), started, label="bench_emulator"
    )
    found = re.search(r"= (\d+) mints/s", done.stdout)
    rate = int(found.group(1)) if found else 0
    return Figure(
        "emulator mints/s (bench_emulator.py, 4 keep-alive client processes)",
        str(rate) if found else f"not measured (exit {done.code})",
        ">= 300",
        rate >= 300,
    )


def fleet(recorder: Recorder, root: Path, profiles: int, level_profiles: int) -> list[Figure]:
    """
    Run benchmarks/bench_fleet.py (its own log level, warning), then the same rotation at
    the CLI's default log level, side by side.
    """
    argv = [
        sys.executable,
        str(BENCHMARKS / "bench_fleet.py"),
        "--profiles",
        str(profiles),
        "--repeat",
        "1",
    ]
    started = time.perf_counter()
    done = recorder.finish(
        recorder.spawn(argv, base_env(root, "http://127.0.0.1")), started, label="bench_fleet"
    )
    found = re.search(r"median ratio ([0-9.]+) x ideal", done.stdout)
    ratio = float(found.group(1)) if found else float("inf")
    figures = [
        Figure(
            f"fleet rotation, {profiles} profiles, concurrency 8, 50 ms latency: time / ideal "
            "(bench_fleet.py, log level warning)",
            f"{ratio:.2f}" if found else f"not measured (exit {done.code})",
            "<= 1.5",
            ratio <= 1.5,
        )
    ]
    figures.append(_fleet_default_level(recorder, root, level_profiles))
    return figures


def _fleet_default_level(recorder: Recorder, root: Path, profiles: int) -> Figure:
    """
    The same fleet rotation as bench_fleet.py, at the CLI's default log level (info): every
    profile logs, so the redaction of secrets in log events is on the clock too.
    """
    with emulator(recorder) as (handle, _tap):
        config = root / "fleet-default-level"
        bench_fleet.seed_profiles(handle.url, config, profiles)
        handle.reset()
        handle.set_faults(Fault(route="*", kind="latency", latency=0.05))
        env = base_env(root / "default-level", handle.url, SPATIAFI_CONFIG_DIR=str(config))
        env.update(user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        done = recorder.run(
            ["credentials", "rotate", "--all-profiles", "--concurrency", "8", "--grace", "0"],
            env,
            label="fleet default level",
        )
        ideal = sum(handle.counters().values()) / 8 * 0.05
    return Figure(
        f"same rotation at the default log level (info), {profiles} profiles: time / ideal",
        f"{done.seconds:.1f} s / {ideal:.1f} s = {done.seconds / ideal:.2f}"
        + (f" (exit {done.code})" if done.code else ""),
        "<= 1.5",
        done.seconds / ideal <= 1.5 and done.code == 0,
    )


def peak_rss(recorder: Recorder, root: Path) -> list[Figure]:
    """
    Peak RSS of one `token` process, measured by a fresh parent's RUSAGE_CHILDREN.
    """
    figures = []
    with emulator(recorder) as (handle, _tap):
        env = base_env(root, handle.url, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        recorder.run(["credentials", "create"], env, label="rss setup")
        recorder.run(["token"], env, label="rss warm-up", intended_stdout=True)  # fill the cache
        for name, args in (
            ("bare import baseline", [sys.executable, "-c", bench_token.BARE_IMPORT]),
            ("`token`, cached", [CONSOLE_SCRIPT, "token"]),
            ("`token --no-cache`", [CONSOLE_SCRIPT, "token", "--no-cache"]),
        ):
            argv = [sys.executable, "-c", RSS_PROBE, *args]
            recorder.check_argv(argv)
            probe = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            recorder.output("rss probe", probe.stderr)
            value = (
                f"{int(probe.stdout.strip()) / 1024:.1f} MiB" if probe.returncode == 0 else "failed"
            )
            figures.append(Figure(f"peak RSS, {name}", value))
    return figures


def performance(
    recorder: Recorder, root: Path, *, runs: int, fleet_profiles: int, level_profiles: int
) -> Section:
    """
    All performance figures, measured in this run.
    """
    section = Section("Performance")
    section.figures += token_ratios(recorder, root / "token", runs)
    section.figures.append(emulator_rate(recorder, root / "emulator", 4.0))
    section.figures += fleet(recorder, root / "fleet", fleet_profiles, level_profiles)
    section.figures += peak_rss(recorder, root / "rss")
    section.notes += [
        f"`token` ratios: medians of {runs} interleaved runs (baseline, subject, baseline, ...) "
        "of the `spatiafi-ops` console script with the default config and cache dirs under a "
        "scratch HOME and the default log level, against a 127.0.0.1 emulator in the proof's "
        "process. The authlib-by-hand baseline is bench_token.py's: a whole process that reads "
        "the same credentials file, mints from the same emulator and prints the token.",
        "Emulator mints/s: `benchmarks/bench_emulator.py --duration 4`. Fleet: "
        f"`benchmarks/bench_fleet.py --profiles {fleet_profiles} --repeat 1` (it sets "
        "`SPATIAFI_LOG_LEVEL=warning`), then the same rotation with the CLI's default log "
        "level (info) against an emulator in the proof's process; ideal = requests counted / "
        "concurrency * latency; the time includes the CLI's start-up.",
        "Peak RSS: `ru_maxrss` of RUSAGE_CHILDREN in a fresh Python parent that ran only that "
        "one process.",
    ]
    return section
