"""
What the rotation, provisioning, publishing, engine and crash tests share: the commands,
the emulator's routes, and readers of the state files a profile keeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import CredentialsRejected
from spatiafi_ops._models import AppCredentials, format_timestamp
from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.rotation import CRASH_ENV
from spatiafi_ops.tokens._mint import mint_token
from tests.conftest import RecordingRunner, record_output, record_secret
from tests.platforms import CRASH_EXIT

ROTATE = ["credentials", "rotate"]
ENSURE = ["credentials", "ensure"]
CREATE_ROUTE = "clients"
DELETE_ROUTE = "delete-client"
LIST_ROUTE = "list-clients"
TOKEN_ROUTE = "token"
BASIC_ROUTE = "basic"
DAY = 86400


def profile_dir(config: Path, profile: str = "default") -> Path:
    return config if profile == "default" else config / "profiles" / profile


def stored(config: Path, profile: str = "default") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (profile_dir(config, profile) / "app_credentials.json").read_text()
    )
    return data


def rotation_state(config: Path, profile: str = "default") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (profile_dir(config, profile) / "rotation-state.json").read_text()
    )
    return data


def age_credentials(config: Path, seconds: float, profile: str = "default") -> None:
    """Make the stored credential *seconds* old (or drop created_at with a negative value)."""
    path = profile_dir(config, profile) / "app_credentials.json"
    data = json.loads(path.read_text())
    if seconds < 0:
        data.pop("created_at", None)
    else:
        data["created_at"] = format_timestamp(time.time() - seconds)
    path.write_text(json.dumps(data))


def record_stored_secrets(config: Path) -> None:
    """Feed every secret that files under *config* hold to the suite-wide leak scan."""
    for path in config.rglob("*.json"):
        text = path.read_text()
        record_secret(*(part.split('"')[0] for part in text.split('"client_secret": "')[1:]))


def file_tree(root: Path) -> dict[str, tuple[int, bytes, int]]:
    """Return every file and directory under *root* with its mode, content and mtime."""
    tree: dict[str, tuple[int, bytes, int]] = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        info = path.stat()
        content = path.read_bytes() if path.is_file() else b""
        tree[str(path.relative_to(root))] = (info.st_mode, content, info.st_mtime_ns)
    return tree


def run_json(runner: RecordingRunner, args: list[str], code: int = 0) -> dict[str, Any]:
    result = runner.run(args)
    assert result.exit_code == code, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def mints(service: EmulatorHandle, data: dict[str, Any]) -> bool:
    """Return whether these stored credentials mint a token at the emulator."""
    credentials = AppCredentials(client_id=data["client_id"], client_secret=data["client_secret"])
    try:
        mint_token(credentials, Settings(auth_url=service.url, deadline=5))
    except CredentialsRejected:
        return False
    return True


def live_ids(service: EmulatorHandle) -> set[str]:
    return {client["client_id"] for client in service.clients()}


def cli_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python -m spatiafi_ops ARGS`` with the test's environment (plus *env*)."""
    return subprocess.Popen(
        [sys.executable, "-m", "spatiafi_ops", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=60)
    record_output(stdout, stderr)
    return process.returncode, stdout, stderr


def crash(*args: str, step: str) -> None:
    """
    Run the CLI with the crash hook armed at *step* (``SPATIAFI_OPS_CRASH_AT``, see
    tests/e2e/test_rotation_crash.py) and check that the hook killed it.
    """
    code, stdout, stderr = finish(cli_process(*args, env={CRASH_ENV: step}))
    assert code == CRASH_EXIT, stderr
    assert stdout == ""
