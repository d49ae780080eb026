"""
`credentials import`: py-spatiafi's files adopted in place, copied from a path or stdin.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._models import format_timestamp, parse_timestamp
from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import RecordingRunner, final_error, record_secret
from tests.e2e.conftest import create_credentials

pytestmark = pytest.mark.posix("adopts files by their POSIX modes (0644 to 0600)")

CLIENT_ID = "0c1e0001-0000-4000-8000-0000000000a1"
OTHER_ID = "0c1e0001-0000-4000-8000-0000000000b2"
SECRET = "imported-Secret-0123456789-abcdefghijklmnopq"
OTHER_SECRET = "other-Secret-0123456789-abcdefghijklmnopqrst"
record_secret(SECRET, OTHER_SECRET)


def py_spatiafi_file(path: Path, client_id: str = CLIENT_ID, secret: str = SECRET) -> Path:
    """
    Write a file as py-spatiafi and the tutorial do: open(..., "w"), so 0644 in 0755.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(json.dumps({"user_id": "u-1", "client_id": client_id, "client_secret": secret}))
    path.chmod(0o644)
    return path


def result_of(runner: RecordingRunner, args: list[str], **kwargs: Any) -> dict[str, Any]:
    done = runner.run(["credentials", "import", *args], **kwargs)
    assert done.exit_code == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """
    Mode and content of everything under *root* (empty lock files left out).
    """
    found = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
        if not (path.name.endswith(".lock") and not data):
            found[str(path)] = (info.st_mode, data)
    return found


def test_a_py_spatiafi_file_is_adopted_in_place_and_does_not_rotate_at_once(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """
    The 0644 file that py-spatiafi wrote two days ago: refused until imported; then 0600
    in 0700, created_at from its mtime, a token mints, and rotate --max-age 30d waits.
    """
    origin = create_credentials(runner, "--profile", "origin")
    config = clean_environment["config"]
    made = json.loads((config / "profiles" / "origin" / "app_credentials.json").read_text())
    path = py_spatiafi_file(
        config / "app_credentials.json", made["client_id"], made["client_secret"]
    )
    two_days_ago = time.time() - 2 * 86400
    os.utime(path, (two_days_ago, two_days_ago))
    refused = runner.run(["token"])
    assert refused.exit_code == 5
    assert "spatiafi-ops credentials import" in refused.stderr
    imported = result_of(runner, [])
    assert imported["action"] == "imported"
    assert imported["client_id"] == origin["client_id"]
    assert imported["created_at"] == format_timestamp(two_days_ago)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert list(stored)[:3] == ["user_id", "client_id", "client_secret"]  # py-spatiafi reads it
    assert stored["client_secret"] == made["client_secret"]
    assert result_of(runner, [])["action"] == "unchanged"
    clients_before = len(service.clients())
    rotated = runner.run(["credentials", "rotate", "--max-age", "30d"])
    assert rotated.exit_code == 0, rotated.stderr
    assert json.loads(rotated.stdout)["action"] == "unchanged"
    assert len(service.clients()) == clients_before
    minted = runner.run(["token"])
    assert minted.exit_code == 0, minted.stderr
    record_secret(minted.stdout.strip())


def test_the_tutorial_legacy_file_is_adopted_into_ours(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """The extension-less file becomes app_credentials.json; the old one goes to backups."""
    config = clean_environment["config"]
    legacy = py_spatiafi_file(config / "app_credentials")
    shown = runner.run(["--allow-insecure-permissions", "credentials", "show"])
    assert json.loads(shown.stdout)["path"] == str(legacy)  # show names the file it read
    imported = result_of(runner, [])
    assert imported["reason"] == f"from {legacy}"
    assert not legacy.exists()
    assert json.loads((config / "app_credentials.json").read_text())["client_id"] == CLIENT_ID
    (backup,) = (config / "backups").iterdir()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    shown = runner.run(["credentials", "show"])
    assert json.loads(shown.stdout)["path"] == str(config / "app_credentials.json")


def test_import_from_a_path_keeps_the_source_and_takes_its_mtime(
    runner: RecordingRunner, clean_environment: dict[str, Path], tmp_path: Path
) -> None:
    """PATH is copied into the profile atomically; created_at is its modification time."""
    source = py_spatiafi_file(tmp_path / "download" / "app_credentials.json")
    a_week_ago = time.time() - 7 * 86400
    os.utime(source, (a_week_ago, a_week_ago))
    before = source.read_bytes()
    imported = result_of(runner, [str(source)])
    assert imported["created_at"] == format_timestamp(a_week_ago)
    assert source.read_bytes() == before
    stored = clean_environment["config"] / "app_credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["client_secret"] == SECRET


def test_import_from_stdin_is_created_now_unless_told(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """`-` reads the JSON from stdin; no mtime there, so now, or --created-at."""
    body = json.dumps({"client_id": CLIENT_ID, "client_secret": SECRET})
    started = int(time.time())
    imported = result_of(runner, ["-"], input=body)
    assert started <= parse_timestamp(imported["created_at"]) <= time.time() + 1
    stated = result_of(runner, ["-", "--created-at", "2024-05-01"], input=body)
    assert stated["action"] == "imported"  # same client, new created_at: rewritten
    assert stated["created_at"] == "2024-05-01T00:00:00Z"
    ago = result_of(runner, ["-", "--created-at", "30d"], input=body)
    assert abs(parse_timestamp(ago["created_at"]) - (time.time() - 30 * 86400)) < 120


def test_other_stored_credentials_are_replaced_only_with_force(
    runner: RecordingRunner, clean_environment: dict[str, Path], tmp_path: Path
) -> None:
    """Without --force: exit 5, nothing changed; with it: the old ones go to backups."""
    config = clean_environment["config"]
    result_of(
        runner, ["-"], input=json.dumps({"client_id": OTHER_ID, "client_secret": OTHER_SECRET})
    )
    source = py_spatiafi_file(tmp_path / "new.json")
    before = snapshot(config)
    refused = runner.run(["credentials", "import", str(source)])
    assert refused.exit_code == 5
    assert "--force" in refused.stderr
    assert snapshot(config) == before
    forced = result_of(runner, [str(source), "--force"])
    assert forced["previous_client_id"] == OTHER_ID
    (backup,) = (config / "backups").iterdir()
    assert json.loads(backup.read_text())["client_secret"] == OTHER_SECRET


def test_an_unfinished_rotation_blocks_the_import(
    runner: RecordingRunner, clean_environment: dict[str, Path], tmp_path: Path
) -> None:
    """A rotation in progress owns the profile: exit 5, nothing written."""
    config = clean_environment["config"]
    config.mkdir(mode=0o700)
    state = config / "rotation-state.json"
    state.write_text(json.dumps({"version": 1, "rotation": {"rotation_id": "r"}}))
    state.chmod(0o600)
    before = snapshot(config)
    done = runner.run(["credentials", "import", str(py_spatiafi_file(tmp_path / "c.json"))])
    assert done.exit_code == 5
    assert "unfinished rotation" in done.stderr
    assert snapshot(config) == before


GARBAGE = [
    ("not json", "{not json"),
    ("a list", "[1, 2]"),
    ("no secret", json.dumps({"client_id": CLIENT_ID})),
    ("empty secret", json.dumps({"client_id": CLIENT_ID, "client_secret": ""})),
    ("not a uuid", json.dumps({"client_id": SECRET, "client_secret": CLIENT_ID})),
    ("control character", json.dumps({"client_id": CLIENT_ID, "client_secret": SECRET + "\x1b"})),
    ("nan", '{"client_id": "' + CLIENT_ID + '", "client_secret": "s", "created_at": NaN}'),
    (
        "year 10000",
        json.dumps(
            {
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "created_at": "9999-12-31T23:00:00-05:00",
            }
        ),
    ),
    ("deep", "[" * 50_000 + "]" * 50_000),
    ("huge", " " * (300 * 1024)),
    ("not utf-8", b'{"client_id": "\xff"}'.decode("latin-1")),
]


@pytest.mark.parametrize(("what", "content"), GARBAGE, ids=[g[0] for g in GARBAGE])
@pytest.mark.parametrize("via", ["path", "stdin"])
def test_garbage_is_exit_5_with_nothing_written(
    runner: RecordingRunner,
    clean_environment: dict[str, Path],
    tmp_path: Path,
    what: str,
    content: str,
    via: str,
) -> None:
    """Not credentials: one sentence, exit 5, no trace of the input on disk or screen."""
    config = clean_environment["config"]
    source = tmp_path / "source.json"
    source.write_bytes(content.encode("latin-1" if what == "not utf-8" else "utf-8"))
    args, stdin = ([str(source)], None) if via == "path" else (["-"], source.read_text("latin-1"))
    done = runner.run(["credentials", "import", *args], input=stdin)
    assert done.exit_code == 5, (what, done.stderr)
    assert final_error(done.stderr)["exit_code"] == 5
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not config.exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["/nonexistent/app_credentials.json"], None, "does not exist"),
        (["{tmp}"], None, "is a directory"),
        (["-"], "", "nothing to import on standard input"),
        (["-"], " \n", "nothing to import on standard input"),
        ([], None, "no credential file to adopt"),
        (["-", "--created-at", "yesterday"], "{}", "--created-at"),
        (["-", "--created-at", "2999-01-01"], "{}", "--created-at"),
    ],
)
def test_usage_mistakes_are_exit_2(
    runner: RecordingRunner,
    clean_environment: dict[str, Path],
    tmp_path: Path,
    args: list[str],
    stdin: str | None,
    message: str,
) -> None:
    """A wrong argument (missing file, directory, empty stdin, bad time): exit 2."""
    done = runner.run(
        ["credentials", "import", *(a.format(tmp=tmp_path) for a in args)], input=stdin
    )
    assert done.exit_code == 2, done.stderr
    assert message in done.stderr
    assert not clean_environment["config"].exists()


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="needs root (chown)")
def test_adopting_another_users_file_is_refused(
    runner: RecordingRunner, clean_environment: dict[str, Path]
) -> None:
    """In place means ours: a file another uid owns is refused, and left as it was."""
    path = py_spatiafi_file(clean_environment["config"] / "app_credentials.json")
    os.chown(path, 12345, 12345)
    before = snapshot(clean_environment["config"])
    done = runner.run(["credentials", "import"])
    assert done.exit_code == 5
    assert "belongs to uid 12345" in done.stderr
    assert snapshot(clean_environment["config"]) == before


def test_adopting_a_symlink_is_refused(
    runner: RecordingRunner, clean_environment: dict[str, Path], tmp_path: Path
) -> None:
    """A link in place of the profile's file is not adopted (import PATH copies instead)."""
    target = py_spatiafi_file(tmp_path / "elsewhere" / "app_credentials.json")
    config = clean_environment["config"]
    config.mkdir(mode=0o700)
    (config / "app_credentials.json").symlink_to(target)
    done = runner.run(["credentials", "import"])
    assert done.exit_code == 5
    assert "symbolic link" in done.stderr
    assert (config / "app_credentials.json").is_symlink()
