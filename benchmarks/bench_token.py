"""
`make bench`: wall time of `spatiafi-ops token`, side by side with its baselines, same run.

- cached: `spatiafi-ops token` answered from the cache, against the bare import of
  requests + authlib + structlog + click + tenacity (goal: median ratio <= 0.25);
- miss: `spatiafi-ops token --no-cache`, against a mint written by hand with authlib: a
  whole process that reads the same credentials file, mints with `OAuth2Session` and
  `ClientSecretJWT` from the same emulator, checks and prints the token (goal: ratio <= 1.0);
- requests per mint, counted by the emulator (goal: exactly 1);
- exec: `spatiafi-ops exec -- sh -c true` on a cached token, against the cached `token` and
  a bare `sh -c true` (goal: exec costs no more than cached `token` + starting the command).

Runs interleave (baseline, subject, baseline, ...) so that machine noise hits both alike.
The goals are on wall time; the miss's CPU time (user + system) is printed beside it, the
steadier figure on a loaded machine.
Only 127.0.0.1 is contacted. Prints a table and exits non-zero if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, running

BARE_IMPORT = "import requests, authlib.integrations.requests_client, structlog, click, tenacity"
# The mint as authlib's documentation writes it (client_secret_jwt, RFC 7523 §2.2), a
# timeout as every call of ours has, the token checked and printed as `token` prints it.
AUTHLIB_BY_HAND = """\
import json, sys
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT

token_url, credentials_file = sys.argv[1:]
with open(credentials_file) as f:
    credentials = json.load(f)
with OAuth2Session(
    credentials["client_id"],
    credentials["client_secret"],
    token_endpoint_auth_method=ClientSecretJWT(token_url),
) as session:
    token = session.fetch_token(token_url, grant_type="client_credentials", timeout=10)
assert token["token_type"].lower() == "bearer" and token["access_token"], token
print(token["access_token"])
"""
CLI = Path(sys.executable).with_name("spatiafi-ops")


def run_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Return the wall time of one run of *argv* and its CPU time (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed: {argv[:3]}: {proc.stderr[-500:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


def interleaved(
    commands: dict[str, Sequence[str]], env: dict[str, str], runs: int
) -> dict[str, tuple[float, float]]:
    """
    Return the median wall and CPU time of each command, the commands run in turn *runs*
    times.
    """
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(run_once(argv, env))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, running() as emulator:
        # Default config and cache dirs under a scratch HOME: the path users really take,
        # platformdirs included.
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,
            "SPATIAFI_AUTH_URL": emulator.url,
            "SPATIAFI_USERNAME": DEFAULT_EMAIL,
            "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
            "SPATIAFI_LOG_LEVEL": "warning",
        }
        run_once([str(CLI), "credentials", "create"], env)
        run_once([str(CLI), "token"], env)  # warm the cache (and the .pyc files)
        bare = [sys.executable, "-c", BARE_IMPORT]

        command = ["sh", "-c", "true"]
        startup = interleaved(
            {
                "bare": bare,
                "cached": [str(CLI), "token"],
                "exec": [str(CLI), "exec", "--", *command],
                "command": command,
            },
            env,
            args.runs,
        )
        medians = {name: wall for name, (wall, _cpu) in startup.items()}
        base_cached, cached = medians["bare"], medians["cached"]

        # The profile `credentials create` wrote: both sides mint with the same client.
        credentials_file = Path(home, ".config", "spatiafi", "app_credentials.json")
        by_hand = [sys.executable, "-c", AUTHLIB_BY_HAND, emulator.token_url, str(credentials_file)]
        emulator.reset()
        paired = interleaved(
            {"by_hand": by_hand, "miss": [str(CLI), "token", "--no-cache"]}, env, args.runs
        )
        counters = emulator.counters()
        token_requests = counters.get("POST /api/v1/auth/jwt/token", 0)
        requests_per_mint = (token_requests - args.runs) / args.runs
        (base_miss, base_miss_cpu), (miss, miss_cpu) = paired["by_hand"], paired["miss"]

    figures = {
        "runs": args.runs,
        "bare_import_s": round(base_cached, 4),
        "cached_token_s": round(cached, 4),
        "cached_ratio": round(cached / base_cached, 3),
        "authlib_by_hand_s": round(base_miss, 4),
        "miss_token_s": round(miss, 4),
        "miss_ratio": round(miss / base_miss, 3),
        "authlib_by_hand_cpu_s": round(base_miss_cpu, 4),
        "miss_token_cpu_s": round(miss_cpu, 4),
        "miss_cpu_ratio": round(miss_cpu / base_miss_cpu, 3),
        "requests_per_mint": round(requests_per_mint, 3),
        "sh_true_s": round(medians["command"], 4),
        "exec_s": round(medians["exec"], 4),
        "exec_over_cached_token_s": round(medians["exec"] - cached, 4),
    }
    goals = {
        "cached_ratio": figures["cached_ratio"] <= 0.25,
        "miss_ratio": figures["miss_ratio"] <= 1.0,
        "requests_per_mint": figures["requests_per_mint"] == 1,
        "exec_overhead": medians["exec"] <= cached + medians["command"],
    }
    verdict = {key: "ok" if met else "MISSED" for key, met in goals.items()}
    print(f"spatiafi-ops token, median of {args.runs} interleaved runs (127.0.0.1 emulator)")
    print(f"  bare import baseline       {base_cached * 1000:7.1f} ms")
    print(
        f"  token (cached)             {cached * 1000:7.1f} ms   "
        f"ratio {figures['cached_ratio']:.3f}  goal <= 0.25  {verdict['cached_ratio']}"
    )
    print(f"  authlib mint by hand       {base_miss * 1000:7.1f} ms")
    print(
        f"  token --no-cache (miss)    {miss * 1000:7.1f} ms   "
        f"ratio {figures['miss_ratio']:.3f}  goal <= 1.00  {verdict['miss_ratio']}"
    )
    print(
        f"    CPU (user + system)      {miss_cpu * 1000:7.1f} ms   "
        f"ratio {figures['miss_cpu_ratio']:.3f}  against {base_miss_cpu * 1000:.1f} ms by hand"
    )
    print(
        f"  requests per mint          {requests_per_mint:7.2f}      "
        f"goal == 1     {verdict['requests_per_mint']}"
    )
    print(f"  sh -c true                 {medians['command'] * 1000:7.1f} ms")
    print(
        f"  exec -- sh -c true         {medians['exec'] * 1000:7.1f} ms   "
        f"{(medians['exec'] - cached) * 1000:+.1f} ms on cached token  "
        f"goal <= {medians['command'] * 1000:+.1f} ms  {verdict['exec_overhead']}"
    )
    if args.json:
        args.json.write_text(json.dumps({**figures, "goals_met": goals}, indent=2) + "\n")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
