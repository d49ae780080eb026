"""
A cache miss that logs nothing and succeeds first time sets no logging up and loads no retry
machinery (make bench: the miss against authlib by hand); a stdlib record at the level shown
still comes out of our redacting pipeline. The cyclic collector is left alone when the CLI
runs inside a host (here, a test's CliRunner).

Each case runs in a fresh interpreter: logging state is process-wide, and a test process
has set it up already.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, record_output, record_secret
from tests.e2e.conftest import create_credentials

# Loaded to set logging up, to write a format or to retry: never by a miss that logs
# nothing and succeeds first time.
NOT_ON_A_QUIET_MISS = ("structlog", "spatiafi_ops._logging", "spatiafi_ops.emit", "tenacity")


def run_probe(probe: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    record_output(proc.stdout, proc.stderr)
    return proc


def test_a_quiet_miss_sets_no_logging_up_and_loads_no_retries(
    spatiafi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    client = spatiafi_emulator.create_client()
    record_secret(client.client_secret)
    argv = ["--auth-url", spatiafi_emulator.url, "--log-level", "warning", "token", "--no-cache"]
    probe = (
        "import sys\n"
        "from spatiafi_ops.cli import cli\n"
        "try:\n"
        f"    cli.main({argv!r}, standalone_mode=False)\n"
        "finally:\n"
        f"    print([m for m in {NOT_ON_A_QUIET_MISS!r} if m in sys.modules], file=sys.stderr)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SPATIAFI_CLIENT_ID": client.client_id,
        "SPATIAFI_CLIENT_SECRET": client.client_secret,
    }
    proc = run_probe(probe, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(".") == 2  # a JWT, printed
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_a_stdlib_warning_sets_logging_up_and_comes_out_redacted(tmp_path: Path) -> None:
    secret = "s3cr3t-" + "q" * 36
    probe = (
        "import logging, sys\n"
        "from spatiafi_ops import _log\n"
        "from spatiafi_ops._redaction import register_secret\n"
        "from spatiafi_ops.cli._root import _configure_logging\n"
        f"register_secret({secret!r})\n"
        "_log.set_configurator(lambda: _configure_logging('json', 'warning'), level='warning')\n"
        "urllib3 = logging.getLogger('urllib3.connectionpool')\n"
        "urllib3.info('below the level')\n"
        "assert 'structlog' not in sys.modules, 'set up before a record was shown'\n"
        f"urllib3.warning('echoed %s', {secret!r})\n"
        "urllib3.warning('again')\n"
    )
    proc = run_probe(probe, {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["logger"], e["level"]) for e in events] == [
        ("urllib3.connectionpool", "warning"),
        ("urllib3.connectionpool", "warning"),
    ]
    assert events[0]["event"].startswith("echoed ")
    assert secret not in proc.stderr


def test_a_mint_inside_a_host_leaves_its_collector_alone(
    runner: RecordingRunner, service: EmulatorHandle
) -> None:
    create_credentials(runner)
    frozen, minted = gc.get_freeze_count(), service.count("token")
    result = runner.run(["token", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    assert service.count("token") == minted + 1
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
