"""
No flag weakens a check on files the tool writes for itself: --allow-insecure-permissions
relaxes the mode of the credentials file (py-spatiafi writes it 0644), never the rotation
journal, which only this tool writes (0600).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import RecordingRunner, final_error

pytestmark = pytest.mark.posix("POSIX permission bits")


@pytest.mark.parametrize("command", [["credentials", "rotate"], ["credentials", "import"]])
def test_a_journal_open_to_others_is_refused_whatever_the_flags(
    runner: RecordingRunner,
    spatiafi_emulator: EmulatorHandle,
    clean_environment: dict[str, Path],
    command: list[str],
) -> None:
    """rotation-state.json at 0644: exit 5 with and without --allow-insecure-permissions."""
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
    }
    assert runner.run(["credentials", "create"], env=env).exit_code == 0
    journal = clean_environment["config"] / "rotation-state.json"
    journal.write_text(json.dumps({"version": 2}))
    journal.chmod(0o644)
    for flags in ([], ["--allow-insecure-permissions"]):
        result = runner.run([*flags, *command], env=env)
        assert result.exit_code == 5, (flags, result.stderr)
        assert (
            "rotation-state.json holds secrets but has mode 0644"
            in final_error(result.stderr)["message"]
        )
