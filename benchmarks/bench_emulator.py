"""
Benchmark: token mints per second that one emulator serves to concurrent keep-alive clients.

Starts ``spatiafi-ops emulator serve --port 0`` (the CLI group, run as a module) in its own
process on 127.0.0.1, creates one client through the control API, then runs N client
processes, each with a keep-alive ``requests.Session`` posting assertions pre-built with
authlib's ``client_secret_jwt_sign`` (fresh ``jti`` each) for a fixed time. Prints mints/s
and compares it with the target (SPEC issue 2: >= 300/s from 4 clients on 2 cores).

Usage: python benchmarks/bench_emulator.py [--clients 4] [--duration 5] [--target 300]
Exit status 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from typing import Any

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
STARTUP_TIMEOUT = 20.0


def build_assertions(client_id: str, secret: str, token_url: str, count: int) -> list[str]:
    """
    Return *count* valid assertions, each with its own ``jti``, signed the way the client does.
    """
    from authlib.oauth2.rfc7523 import client_secret_jwt_sign
    from joserfc.jwk import OctKey

    key = OctKey.import_key(secret)
    return [
        str(client_secret_jwt_sign(key, client_id=client_id, token_endpoint=token_url, alg="HS256"))
        for _ in range(count)
    ]


def worker(args: tuple[str, str, str, int, float, Any, Any]) -> tuple[int, int, float]:
    """
    Post pre-built assertions until the deadline; return (successes, failures, seconds).
    """
    import requests

    client_id, secret, token_url, count, duration, barrier, results = args
    assertions = build_assertions(client_id, secret, token_url, count)
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    ok = failed = 0
    barrier.wait()
    start = time.perf_counter()
    deadline = start + duration
    for assertion in assertions:
        if time.perf_counter() >= deadline:
            break
        response = session.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
            timeout=10,
        )
        if response.status_code == 200 and "access_token" in response.json():
            ok += 1
        else:
            failed += 1
    elapsed = time.perf_counter() - start
    results.put((ok, failed, elapsed))
    return ok, failed, elapsed


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """
    Start the emulator CLI in a child process and return it with its base URL.
    """
    code = "from spatiafi_ops.cli._emulator import emulator; emulator()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0", "--no-access-log"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the emulator did not print its URL (got {url!r})")
    return process, url


def main() -> int:
    """
    Run the benchmark and print the result.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--target", type=float, default=300.0)
    parser.add_argument("--per-client", type=int, default=6000, help="assertions built per client")
    options = parser.parse_args()

    from spatiafi_ops.emulator import EmulatorHandle

    process, url = start_emulator()
    try:
        handle = EmulatorHandle(url)
        creds = handle.create_client()
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(options.clients + 1)
        results = context.Queue()
        processes = [
            context.Process(
                target=worker,
                args=(
                    (
                        creds.client_id,
                        creds.client_secret,
                        handle.token_url,
                        options.per_client,
                        options.duration,
                        barrier,
                        results,
                    ),
                ),
            )
            for _ in range(options.clients)
        ]
        for proc in processes:
            proc.start()
        barrier.wait(timeout=120)
        outcomes = [results.get(timeout=options.duration + 60) for _ in processes]
        for proc in processes:
            proc.join(timeout=10)
        counted = handle.count("token")
    finally:
        process.terminate()
        process.wait(timeout=10)

    ok = sum(o[0] for o in outcomes)
    failed = sum(o[1] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    rate = ok / elapsed
    verdict = "PASS" if rate >= options.target and failed == 0 else "FAIL"
    print(
        f"emulator: {ok} mints in {elapsed:.2f}s from {options.clients} keep-alive clients "
        f"= {rate:.0f} mints/s (target {options.target:.0f}/s, {failed} failed, "
        f"server counted {counted}) {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
