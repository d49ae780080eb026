"""
`make demo`: the main job end to end against the embedded emulator.

Starts the emulator on 127.0.0.1, creates app credentials with the emulator's default user,
mints a token, shows that a second `token` call is served from the cache, runs a command
with the token in its environment (`exec`), and says what it did. It prints the environment
it sets as `export` lines, so that every `$ spatiafi-ops ...` line can be pasted into a
shell. Everything lives in a temporary directory that is removed at the end; no secret is
printed.
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

BIN = Path(sys.executable).parent  # where this install's `spatiafi-ops` and `python` live

# Printed instead of the password: a line that reads it, so that it can be pasted.
PASSWORD_EXPORT = (
    'export SPATIAFI_PASSWORD="$(python -c '
    "'from spatiafi_ops.emulator import DEFAULT_PASSWORD; print(DEFAULT_PASSWORD)')\""
)

# What `exec` runs: it reports what it was given, never the token itself.
REPORT = (
    'import os; e = os.environ; print("  the command got a", e["SPATIAFI_TOKEN_TYPE"], '
    '"token of", len(e["SPATIAFI_ACCESS_TOKEN"]), "chars; password passed on:", '
    '"SPATIAFI_PASSWORD" in e)'
)


def cli(args: list[str], env: dict[str, str]) -> tuple[str, float]:
    """
    Run `spatiafi-ops ARGS` as a user would, echo the command, return stdout and wall time.
    """
    print(f"$ spatiafi-ops {shlex.join(args)}")
    started = time.perf_counter()
    proc = subprocess.run(
        ["spatiafi-ops", *args], env=env, capture_output=True, text=True, check=False
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
        settings = {
            "SPATIAFI_AUTH_URL": emulator.url,
            "SPATIAFI_CONFIG_DIR": str(root / "config"),
            "SPATIAFI_CACHE_DIR": str(root / "cache"),
            "SPATIAFI_LOG_LEVEL": "warning",
            "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        }
        env = {
            **os.environ,
            **settings,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
        }
        print(f"1. Emulator of the SpatiaFi Auth API running at {emulator.url}")
        print("   The environment of every command below (paste it to repeat them):\n")
        print(f'   export PATH="{BIN}:$PATH"')
        for name, value in settings.items():
            print(f"   export {name}={shlex.quote(value)}")
        print(f"   {PASSWORD_EXPORT}\n")

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
            f"5. The token expires at {expires_at} (epoch); in {expires_at - int(time.time())} s.\n"
        )

        report, _ = cli(["exec", "--", "python", "-c", REPORT], env)
        print(report.rstrip())
        print("6. exec ran a command with the cached token in its environment (not in its")
        print("   arguments), and without the password.")
        if emulator.count("token") != 1 or second != first:
            sys.exit("demo failed: the cache was not used")
        if "password passed on: False" not in report:
            sys.exit("demo failed: exec passed the password on")
        print("\nDone: credentials created once, one token minted, cache reused. Nothing kept.")
        print("\nNext, try it yourself: start an emulator in another terminal,")
        print("   $ spatiafi-ops emulator serve --port 8000")
        print("paste the export lines above with SPATIAFI_AUTH_URL=http://127.0.0.1:8000, and run")
        print("   $ spatiafi-ops credentials create")
        print("   $ spatiafi-ops exec -- ./your-deploy-script")


if __name__ == "__main__":
    main()
