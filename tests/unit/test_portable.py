"""
Portability: the CLI on a machine without fcntl, and a hardened process (no core files).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spatiafi_ops._models import AccessToken, AppCredentials
from spatiafi_ops.tokens._cache import TokenCache
from tests.conftest import final_error

pytestmark = pytest.mark.posix("simulates Windows on POSIX")

CLIENT = AppCredentials("0c1e0001-0000-4000-8000-000000000001", "s3cr3t-" + "x" * 36)
URL = "http://127.0.0.1:9"

# Runs the CLI as `python -m spatiafi_ops` would, in an interpreter where `import fcntl`
# fails as it does on Windows: a meta-path finder refuses the module before any import.
WITHOUT_FCNTL = """
import runpy, sys

class NoFcntl:
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ModuleNotFoundError("No module named 'fcntl'", name=name)
        return None

sys.modules.pop("fcntl", None)
sys.meta_path.insert(0, NoFcntl())
try:
    import fcntl
except ImportError:
    pass
else:
    raise SystemExit("the blocker did not block fcntl")
sys.argv = ["spatiafi-ops", *sys.argv[1:]]
runpy.run_module("spatiafi_ops", run_name="__main__")
"""


def run_without_fcntl(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(name="no_fcntl_env")
def _no_fcntl_env(tmp_path: Path) -> dict[str, str]:
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.mkdir(mode=0o700)
    (config / "app_credentials.json").write_text(
        json.dumps({"user_id": "u", "client_id": CLIENT.client_id, "client_secret": "s" * 43})
    )
    (config / "app_credentials.json").chmod(0o600)
    return {
        **os.environ,
        "SPATIAFI_AUTH_URL": URL,
        "SPATIAFI_CONFIG_DIR": str(config),
        "SPATIAFI_CACHE_DIR": str(cache),
        "SPATIAFI_LOG_FORMAT": "json",
    }


def test_without_fcntl_help_and_a_cached_token_work(
    no_fcntl_env: dict[str, str], tmp_path: Path
) -> None:
    """No fcntl (as on Windows): the CLI imports, --help works, a cached token is served."""
    stored = AppCredentials(CLIENT.client_id, "s" * 43)
    TokenCache(tmp_path / "cache").save(
        URL, stored, AccessToken("cached.token.value", "bearer", time.time() + 800)
    )
    helped = run_without_fcntl(["--help"], no_fcntl_env)
    assert helped.returncode == 0, helped.stderr
    assert "credentials" in helped.stdout
    token = run_without_fcntl(["token"], no_fcntl_env)
    assert token.returncode == 0, token.stderr
    assert token.stdout == "cached.token.value\n"


def test_without_fcntl_a_lock_is_one_sentence_and_exit_5(
    no_fcntl_env: dict[str, str], tmp_path: Path
) -> None:
    """Where no kernel lock can be had, a command that needs one says so: exit 5, no trace."""
    source = tmp_path / "py-spatiafi.json"
    source.write_text(json.dumps({"client_id": CLIENT.client_id, "client_secret": "t" * 43}))
    done = run_without_fcntl(["credentials", "import", str(source)], no_fcntl_env)
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert "does not support kernel locks" in final_error(done.stderr)["message"]
    assert "t" * 43 not in done.stderr
    stored = json.loads((tmp_path / "config" / "app_credentials.json").read_text())
    assert stored["client_secret"] == "s" * 43  # nothing was written


def _cores(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("core"))


def _unlimited_core() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _quit_and_wait(argv: list[str], cwd: Path) -> int:
    """
    Start *argv* with `ulimit -c` at its hard limit, let it block on stdin, SIGQUIT it.
    """
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_unlimited_core,  # noqa: PLW1509 - a limit for the child alone
    )
    assert process.stdout is not None
    process.stdout.readline()  # the child says when it is blocked
    process.send_signal(signal.SIGQUIT)
    process.communicate(timeout=60)
    return process.returncode


BLOCK_AFTER = """
import sys
{prelude}
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core files as Linux writes them")
def test_a_hardened_process_leaves_no_core_file(tmp_path: Path) -> None:
    """
    Under `ulimit -c unlimited`, SIGQUIT dumps a plain Python's memory into the working
    directory; after harden_process() it dumps nothing.
    """
    plain, hardened = tmp_path / "plain", tmp_path / "hardened"
    plain.mkdir()
    hardened.mkdir()
    control = BLOCK_AFTER.format(prelude="")
    _quit_and_wait([sys.executable, "-c", control], plain)
    if not _cores(plain):
        pytest.skip("this machine writes no core file into the working directory")
    prelude = "from spatiafi_ops._files import harden_process\nharden_process()"
    code = _quit_and_wait([sys.executable, "-c", BLOCK_AFTER.format(prelude=prelude)], hardened)
    assert code == -signal.SIGQUIT
    assert _cores(hardened) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(2) is Linux's")
def test_harden_process_sets_the_core_limit_and_with_memory_dumpability() -> None:
    """
    RLIMIT_CORE's soft limit becomes 0 (the hard one stays); PR_GET_DUMPABLE says 0 only
    after memory=True (the cached token path does not pay for ctypes).
    """
    probe = (
        "import ctypes, resource\n"
        "from spatiafi_ops._files import harden_process\n"
        "dumpable = lambda: ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)\n"
        "hard = resource.getrlimit(resource.RLIMIT_CORE)[1]\n"
        "harden_process()\n"
        "soft, after = resource.getrlimit(resource.RLIMIT_CORE)\n"
        "print(soft, after == hard, dumpable())\n"
        "harden_process(memory=True)\n"
        "print(dumpable())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["0", "True", "1", "0"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core files as Linux writes them")
def test_the_cli_hardens_itself_before_reading_secrets(tmp_path: Path) -> None:
    """
    `spatiafi-ops credentials import -` blocked on stdin, SIGQUIT under an unlimited
    core limit: no core file holds what it had read.
    """
    plain = tmp_path / "plain"
    plain.mkdir()
    _quit_and_wait([sys.executable, "-c", BLOCK_AFTER.format(prelude="")], plain)
    if not _cores(plain):
        pytest.skip("this machine writes no core file into the working directory")
    _quit_and_wait([sys.executable, "-c", CLI_READING_STDIN], tmp_path)
    assert _cores(tmp_path) == []


# The CLI as its console script runs it; stdin says "ready" when the command reads it,
# which is after main() started and before anything is read.
CLI_READING_STDIN = """
import sys

class Announcing:
    def __init__(self, real):
        self.real = real

    def read(self, size=-1):
        print("ready", flush=True)
        return self.real.read(size)

class Stdin:
    buffer = Announcing(sys.stdin.buffer)

    def isatty(self):
        return False

sys.stdin = Stdin()
sys.argv = ["spatiafi-ops", "credentials", "import", "-"]
from spatiafi_ops.cli import main
main()
"""


def test_a_cached_token_imports_no_lock_library(
    no_fcntl_env: dict[str, str], tmp_path: Path
) -> None:
    """The cached path takes no lock, so it never pays for importing filelock (make bench)."""
    TokenCache(tmp_path / "cache").save(
        URL,
        AppCredentials(CLIENT.client_id, "s" * 43),
        AccessToken("cached.token.value", "bearer", time.time() + 800),
    )
    probe = (
        "import sys\n"
        "from spatiafi_ops.cli import cli\n"
        "try:\n"
        "    cli.main(['token'], prog_name='spatiafi-ops')  # main() ends with os._exit\n"
        "finally:\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] == 'filelock'),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=no_fcntl_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "cached.token.value\n"
    assert done.stderr.strip().splitlines()[-1] == "[]"
