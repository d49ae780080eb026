"""
Benchmark: `credentials rotate --all-profiles --concurrency N` over many profiles.

Starts the emulator (``spatiafi-ops emulator serve``) in its own process on 127.0.0.1, seeds
P profiles in a temporary config dir with 40-day-old credentials, adds L seconds of latency
to every service route, then times one ``spatiafi-ops credentials rotate --all-profiles
--grace 0`` process end to end (start-up included). The ideal time is the requests the
emulator counted / concurrency * latency; the target (issue 4) is at most 1.5 times that.
Each of --repeat runs uses a fresh emulator and config dir; the median ratio decides.

Usage: python benchmarks/bench_fleet.py [--profiles 200] [--concurrency 8] [--latency 0.05]
       [--repeat 3]
Exit status 0 when the median meets the target and every profile rotated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_TIMEOUT = 300.0
TARGET_RATIO = 1.5


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """
    Start the emulator CLI in a child process and return it with its base URL.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spatiafi_ops",
            "emulator",
            "serve",
            "--port",
            "0",
            "--no-access-log",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the emulator did not print its URL (got {url!r})")
    return process, url


def seed_profiles(url: str, config_dir: Path, count: int) -> None:
    """
    Give *count* profiles a client created through the control API, 40 days old.
    """
    from spatiafi_ops._models import AppCredentials
    from spatiafi_ops.credentials._credfile import credentials_to_json, write_private_json
    from spatiafi_ops.credentials._store import ProfilePaths
    from spatiafi_ops.emulator import EmulatorHandle

    handle = EmulatorHandle(url)
    created_at = time.time() - 40 * 86400
    for index in range(count):
        client = handle.create_client()
        credentials = AppCredentials(
            client_id=client.client_id,
            client_secret=client.client_secret,
            user_id=client.user_id,
            created_at=created_at,
            auth_url=url,
        )
        paths = ProfilePaths.of(config_dir, f"p{index:04d}")
        write_private_json(paths.credentials, credentials_to_json(credentials))


def run_once(profiles: int, concurrency: int, latency: float) -> tuple[float, float, str]:
    """
    Seed, rotate every profile in one CLI process; return (seconds, ideal, problem or "").
    """
    from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, Fault

    process, url = start_emulator()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            config_dir = Path(tmp) / "config"
            seed_profiles(url, config_dir, profiles)
            handle = EmulatorHandle(url)
            handle.reset()
            handle.set_faults(Fault(route="*", kind="latency", latency=latency))
            env = {
                key: value for key, value in os.environ.items() if not key.startswith("SPATIAFI_")
            }
            env.update(
                SPATIAFI_AUTH_URL=url,
                SPATIAFI_CONFIG_DIR=str(config_dir),
                SPATIAFI_CACHE_DIR=str(Path(tmp) / "cache"),
                SPATIAFI_USERNAME=DEFAULT_EMAIL,
                SPATIAFI_PASSWORD=DEFAULT_PASSWORD,
                SPATIAFI_LOG_LEVEL="warning",
                NO_PROXY="127.0.0.1",
            )
            command = [sys.executable, "-m", "spatiafi_ops", "credentials", "rotate"]
            command += ["--all-profiles", "--concurrency", str(concurrency), "--grace", "0"]
            start = time.perf_counter()
            run = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
            )
            elapsed = time.perf_counter() - start
            counters = handle.counters()
            live = len(handle.clients())
    finally:
        process.terminate()
        process.wait(timeout=10)
    requests = sum(counters.values())
    ideal = requests / concurrency * latency
    problem = ""
    if run.returncode != 0:
        problem = f"rotate exited {run.returncode}: {run.stderr[-500:]}"
    elif json.loads(run.stdout)["actions"] != {"rotated": profiles} or live != profiles:
        problem = f"not every profile rotated once ({run.stdout[-300:]}, {live} live clients)"
    print(
        f"  run: {elapsed:.2f} s for {requests} requests {counters}; ideal {ideal:.2f} s; "
        f"ratio {elapsed / ideal:.2f}"
    )
    return elapsed, ideal, problem


def main() -> int:
    """
    Run the benchmark and print the figures.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--profiles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(
        f"rotate --all-profiles: {options.profiles} profiles, concurrency "
        f"{options.concurrency}, {options.latency * 1000:.0f} ms latency per request"
    )
    ratios = []
    for _ in range(max(1, options.repeat)):
        elapsed, ideal, problem = run_once(options.profiles, options.concurrency, options.latency)
        if problem:
            print(f"FAIL: {problem}")
            return 1
        ratios.append(elapsed / ideal)
    median = statistics.median(ratios)
    print(
        f"median ratio {median:.2f} x ideal (target <= {TARGET_RATIO}; "
        "one CLI process per run, start-up included)"
    )
    print("PASS" if median <= TARGET_RATIO else "FAIL")
    return 0 if median <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
