"""
`make demo`: the main job end to end against the embedded emulator.

Starts the emulator on 127.0.0.1, creates app credentials with the tutorial's user, mints a
token, shows that a second `token` call is served from the cache, and says what it did.
Everything lives in a temporary directory that is removed at the end; no secret is printed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, running


def cli(args: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run `spatiafi-ops ARGS`, echo the command, return stdout and the wall time."""
    print(f"$ spatiafi-ops {shlex.join(args)}")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"demo failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout, elapsed


def show_token(token: str) -> str:
    return f"{token[:10]}… ({len(token)} chars, not shown in full)"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="spatiafi-demo-") as tmp, running() as emulator:
        root = Path(tmp)
        env = {
            **os.environ,
            "SPATIAFI_AUTH_URL": emulator.url,
            "SPATIAFI_CONFIG_DIR": str(root / "config"),
            "SPATIAFI_CACHE_DIR": str(root / "cache"),
            "SPATIAFI_USERNAME": DEFAULT_EMAIL,
            "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
            "SPATIAFI_LOG_LEVEL": "warning",
        }
        print(f"1. Emulator of the SpatiaFi Auth API running at {emulator.url}\n")

        out, _ = cli(["credentials", "create"], env)
        created = json.loads(out)
        print(f"   result: {out.strip()}")
        stored = root / "config" / "app_credentials.json"
        print(f"2. Created app credentials {created['client_id']}; secret stored only in")
        print(f"   {stored} (mode {stored.stat().st_mode & 0o777:o})\n")

        first, first_s = cli(["token"], env)
        print(f"3. Minted an access token: {show_token(first.strip())} in {first_s * 1000:.0f} ms")
        print(f"   token requests at the service so far: {emulator.count('token')}\n")

        second, second_s = cli(["token"], env)
        same = "the same token" if second == first else "a DIFFERENT token"
        print(f"4. Second call returned {same} in {second_s * 1000:.0f} ms, from the cache;")
        print(f"   token requests at the service still: {emulator.count('token')}\n")

        as_json, _ = cli(["token", "--format", "json"], env)
        expires_at = int(json.loads(as_json)["SPATIAFI_TOKEN_EXPIRES_AT"])
        print(
            f"5. The token expires at {expires_at} (epoch); in {expires_at - int(time.time())} s."
        )
        if emulator.count("token") != 1 or second != first:
            sys.exit("demo failed: the cache was not used")
        print("\nDone: credentials created once, one token minted, cache reused. Nothing kept.")


if __name__ == "__main__":
    main()
