"""
A clock that ran fast: ``created_at`` is stamped on the service's clock, and a future one
(written by a host whose clock was days ahead) is read as now with a warning; every command
keeps working, and ``credentials import --created-at`` repairs the file.

The emulator's clock offset stands in for a local clock that is off (the service's Date
header is what the tool measures).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from spatiafi_ops._models import format_timestamp, parse_timestamp
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import RecordingRunner, json_lines

DAY = 86400.0
LOGIN = {"SPATIAFI_USERNAME": DEFAULT_EMAIL, "SPATIAFI_PASSWORD": DEFAULT_PASSWORD}


def _credentials_file(config: Path) -> Path:
    return config / "app_credentials.json"


def test_a_rotation_on_a_fast_clock_stamps_the_service_s_time(
    runner: RecordingRunner, spatiafi_emulator: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """This machine 3 days ahead of the service: created_at is the service's now, not ours."""
    env = {"SPATIAFI_AUTH_URL": spatiafi_emulator.url, **LOGIN}
    spatiafi_emulator.set_clock_offset(-3 * DAY)
    created = runner.run(["credentials", "create"], env=env)
    assert created.exit_code == 0, created.stderr
    stored = json.loads(_credentials_file(clean_environment["config"]).read_text())
    stamped = parse_timestamp(stored["created_at"])
    assert abs(stamped - (time.time() - 3 * DAY)) < 120, stored["created_at"]
    rotated = runner.run(["credentials", "rotate", "--max-age", "1s"], env=env)
    assert rotated.exit_code == 0, rotated.stderr
    stored = json.loads(_credentials_file(clean_environment["config"]).read_text())
    assert abs(parse_timestamp(stored["created_at"]) - (time.time() - 3 * DAY)) < 120


def test_a_future_created_at_never_makes_the_profile_unusable(
    runner: RecordingRunner, spatiafi_emulator: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Stamped 3 days ahead, then the clock was corrected: token, show and rotate still work
    (with a warning naming the fix), and import --created-at repairs the file."""
    env = {"SPATIAFI_AUTH_URL": spatiafi_emulator.url, **LOGIN}
    assert runner.run(["credentials", "create"], env=env).exit_code == 0
    path = _credentials_file(clean_environment["config"])
    stored = json.loads(path.read_text())
    stored["created_at"] = format_timestamp(time.time() + 3 * DAY)
    path.write_text(json.dumps(stored))
    path.chmod(0o600)

    token = runner.run(["token"], env=env)
    assert token.exit_code == 0, token.stderr
    assert token.stdout.count(".") == 2
    warnings = [e for e in json_lines(token.stderr) if e["event"] == "created_at_in_future"]
    assert warnings, token.stderr
    assert "credentials import --created-at" in warnings[0]["detail"]

    kept = runner.run(["credentials", "rotate", "--max-age", "30d"], env=env)
    assert kept.exit_code == 0, kept.stderr
    assert json.loads(kept.stdout)["action"] == "unchanged"

    repaired = runner.run(["credentials", "import", "--created-at", "1d"], env=env)
    assert repaired.exit_code == 0, repaired.stderr
    fixed = parse_timestamp(json.loads(path.read_text())["created_at"])
    assert abs(fixed - (time.time() - DAY)) < 120
    again = runner.run(["token"], env=env)
    assert again.exit_code == 0
    assert "created_at_in_future" not in again.stderr
