"""
Where a doc recipe runs: a fresh home and working directory, the CLI of this checkout on
PATH, the emulator as the auth URL, and stand-ins for what a recipe hands the token to
(``./deploy.sh``, ``docker``, ``gh``, ...), each of which checks what it was given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Each stand-in fails unless it got a token in its environment (or file) and no secret that
# was not meant for it: what the docs promise about the command they run.
_NEEDS_TOKEN = """#!/bin/sh
[ -n "${SPATIAFI_ACCESS_TOKEN:-}" ] || { echo "$0: no SPATIAFI_ACCESS_TOKEN" >&2; exit 97; }
[ -z "${SPATIAFI_PASSWORD:-}${SPATIAFI_CLIENT_SECRET:-}" ] ||
  { echo "$0: got a secret" >&2; exit 98; }
echo "$0 ran: $*" >> "$RECIPE_LOG"
"""
_NEEDS_TOKEN_PY = """import os, sys
env = os.environ
if not env.get("SPATIAFI_ACCESS_TOKEN"):
    sys.exit(f"{sys.argv[0]}: no SPATIAFI_ACCESS_TOKEN")
if env.get("SPATIAFI_PASSWORD") or env.get("SPATIAFI_CLIENT_SECRET"):
    sys.exit(f"{sys.argv[0]}: got a secret")
with open(env["RECIPE_LOG"], "a") as log:
    print(f"{sys.argv[0]} ran", file=log)
"""
_DOCKER = """#!/bin/sh
# docker run [--rm] [-e NAME | --env-file FILE] IMAGE: the token from -e or the env file.
env_file=
while [ $# -gt 0 ]; do
  case "$1" in
    --env-file) env_file="$2"; shift ;;
  esac
  shift
done
if [ -n "$env_file" ]; then
  grep -q '^SPATIAFI_ACCESS_TOKEN=.' "$env_file" ||
    { echo "docker: no token in $env_file" >&2; exit 97; }
else
  [ -n "${SPATIAFI_ACCESS_TOKEN:-}" ] || { echo "docker: no SPATIAFI_ACCESS_TOKEN" >&2; exit 97; }
fi
echo "docker ran" >> "$RECIPE_LOG"
"""
# gh secret set NAME [--repo R] [--env E]: the value on stdin, kept where the test reads it
# (a stand-in for a gh that would reach GitHub).
_GH = """#!/bin/sh
[ "$1 $2" = "secret set" ] || { echo "gh stand-in: only 'secret set'" >&2; exit 2; }
cat > "$RECIPE_GH_SECRETS/$3"
echo "gh secret set $3 ${*}" >> "$RECIPE_LOG"
"""


@dataclass
class Sandbox:
    """
    One recipe's world. ``env`` is what its shell starts with.
    """

    root: Path
    emulator: EmulatorHandle
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.work = self.root / "work"
        self.stand_ins = self.root / "bin"
        self.log = self.root / "recipe.log"
        self.gh_secrets = self.root / "gh-secrets"
        for directory in (self.home, self.work, self.stand_ins, self.gh_secrets):
            directory.mkdir(parents=True, mode=0o700)
        for name in ("deploy.sh", "job.sh"):
            self.script(self.work / name, _NEEDS_TOKEN)
        self.script(self.work / "upload.py", _NEEDS_TOKEN_PY)
        (self.work / "build").mkdir()
        self.script(self.work / "build" / "upload.sh", _NEEDS_TOKEN)
        self.script(self.stand_ins / "docker", _DOCKER)
        self.script(self.stand_ins / "gh", _GH)
        (self.work / "spatiafi.mk").write_bytes((REPO / "examples" / "spatiafi.mk").read_bytes())
        self.env = {
            "PATH": os.pathsep.join([str(self.stand_ins), str(BIN), "/usr/bin", "/bin"]),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.root),
            "SPATIAFI_AUTH_URL": self.emulator.url,
            "RECIPE_LOG": str(self.log),
            "RECIPE_GH_SECRETS": str(self.gh_secrets),
        }

    @staticmethod
    def script(path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)

    def login(self) -> dict[str, str]:
        """
        Return the emulator's login as the recipes' ``export`` lines would set it.
        """
        return {"SPATIAFI_USERNAME": DEFAULT_EMAIL, "SPATIAFI_PASSWORD": DEFAULT_PASSWORD}

    def spatiafi_ops(self, *args: str, env: dict[str, str] | None = None) -> str:
        """
        Run the CLI as set-up for a recipe; return its stdout (it must succeed).
        """
        done = subprocess.run(
            [str(BIN / "spatiafi-ops"), *args],
            env={**self.env, **self.login(), **(env or {})},
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        record_output(done.stderr)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def run(
        self, script: str, *, shell: str = "bash", stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """
        Run *script* with ``bash -e`` (or make, or python) in the working directory.
        """
        argv = {
            "bash": ["bash", "--noprofile", "--norc", "-e", "-c", script],
            "python": [str(BIN / "python"), "-c", script],
        }[shell]
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=self.work,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        record_output(done.stderr)
        return done

    def ran(self) -> list[str]:
        """
        Return what the stand-ins recorded, one line per run.
        """
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
