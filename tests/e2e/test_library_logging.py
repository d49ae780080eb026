"""
A silent library: nothing on stdout or stderr unless the application configured logging,
and then our events, redacted, through what it configured (stdlib logging or structlog).

Each case runs in a fresh interpreter, as an application would: logging state is
process-wide and a test process has configured it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import record_output, record_secret

# Mint, a mint that is retried (two 503s), get_session, rejected credentials and a service
# that keeps failing, through the public API against the bundled emulator. The secrets
# it saw are written to argv[1] for the scan; its token cache is argv[2] (an application that
# names no cache dir gets the user's real one).
APPLICATION = """
import json, sys
from pathlib import Path
import spatiafi_ops
from spatiafi_ops import AppCredentials, CredentialsRejected, RetryPolicy, ServiceUnavailable
from spatiafi_ops import Settings
from spatiafi_ops.emulator import Fault, running

fast = RetryPolicy(initial=0.01, maximum=0.02, jitter=0.0)
seen = []
with running() as emulator:
    made = emulator.create_client()
    if not isinstance(made, AppCredentials):
        made = AppCredentials(client_id=made["client_id"], client_secret=made["client_secret"])
    cache = Path(sys.argv[2])
    settings = Settings(auth_url=emulator.url, deadline=10, cache_dir=cache)
    seen += [made.client_secret, spatiafi_ops.mint_token(made, settings, policy=fast).value]
    emulator.set_faults(Fault(route="token", status=503, times=2))
    seen.append(spatiafi_ops.mint_token(made, settings, policy=fast).value)
    assert emulator.count("token") == 4, emulator.counters()
    session = spatiafi_ops.get_session(made, settings, policy=fast)
    seen.append(session.token["access_token"])
    wrong = AppCredentials(client_id=made.client_id, client_secret="w" * 43)
    seen.append(wrong.client_secret)
    try:
        spatiafi_ops.mint_token(wrong, settings, policy=fast)
    except CredentialsRejected:
        pass
    else:
        raise SystemExit("wrong credentials minted a token")
    emulator.set_faults(Fault(route="token", status=503))
    try:
        spatiafi_ops.mint_token(made, settings._replace(deadline=0.5), policy=fast)
    except ServiceUnavailable:
        pass
    else:
        raise SystemExit("a failing service minted a token")
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
"""

STDLIB = """
import logging, sys
logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("spatiafi_ops").setLevel(logging.DEBUG)
"""

STRUCTLOG = """
import sys, structlog
structlog.configure(
    processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)
"""


def run_application(tmp_path: Path, setup: str) -> tuple[str, str, list[str]]:
    """
    Run the application after *setup*; return its stdout, stderr and the secrets it saw.
    """
    seen = tmp_path / "seen.json"
    proc = subprocess.run(
        [sys.executable, "-c", setup + APPLICATION, str(seen), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    record_output(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    secrets: list[str] = json.loads(seen.read_text())
    record_secret(*secrets)
    return proc.stdout, proc.stderr, secrets


def test_the_library_prints_nothing_when_the_application_configured_no_logging(
    tmp_path: Path,
) -> None:
    """Mint, retries, get_session, rejection and a failing service: stdout and stderr empty."""
    stdout, stderr, _ = run_application(tmp_path, "")
    assert stdout == ""
    assert stderr == ""


def test_an_application_with_stdlib_logging_sees_our_events_redacted(tmp_path: Path) -> None:
    """Records of the spatiafi_ops.* loggers reach the application's handlers, secret-free."""
    stdout, stderr, secrets = run_application(tmp_path, STDLIB)
    assert stdout == ""
    lines = stderr.splitlines()
    assert any(line.startswith("DEBUG spatiafi_ops.tokens._mint token_minted") for line in lines)
    assert any(line.startswith("WARNING spatiafi_ops.") for line in lines)  # the retries
    assert not [secret for secret in secrets if secret in stderr]


def test_an_application_with_structlog_sees_our_events_redacted(tmp_path: Path) -> None:
    """A configured structlog gets our events (and its processors need not redact them)."""
    stdout, stderr, secrets = run_application(tmp_path, STRUCTLOG)
    assert stdout == ""
    events = [json.loads(line) for line in stderr.splitlines()]
    assert {"event": "token_minted", "level": "debug"}.items() <= events[0].items()
    assert any(event["level"] == "warning" for event in events)
    assert not [secret for secret in secrets if secret in stderr]


@pytest.mark.parametrize("configured", ["", "import logging\n", "import structlog\n"])
def test_an_event_no_one_can_see_imports_nothing(configured: str) -> None:
    """An event costs no import of logging or structlog; imported but unconfigured, silence."""
    probe = (
        f"{configured}import sys\n"
        "before = {'logging', 'structlog'} & set(sys.modules)\n"
        "from spatiafi_ops import _log\n"
        "_log.get_logger('spatiafi_ops.probe').error('probe_failed', detail='x')\n"
        "print(sorted({'logging', 'structlog'} & set(sys.modules) - before))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[]\n", "")
