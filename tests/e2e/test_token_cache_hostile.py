"""
A token cache someone else prepared: every trap is a miss (one mint), never a hang, never
a file made through a link, never a token that is not ours.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from spatiafi_ops._models import AppCredentials
from spatiafi_ops.emulator import EmulatorHandle
from spatiafi_ops.tokens._cache import TokenCache
from tests.conftest import RecordingRunner, record_secret
from tests.e2e.conftest import create_credentials

pytestmark = pytest.mark.posix("POSIX owners, modes, FIFOs and links")
AS_ROOT = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="needs root (os.chown)"
)
PLANTED = "planted.to.ken"


def cache_paths(service: EmulatorHandle, config: Path, cache: Path) -> tuple[Path, Path]:
    """
    Return the token file and the lock file that the stored credentials use in *cache*.
    """
    stored = json.loads((config / "app_credentials.json").read_text())
    credentials = AppCredentials(stored["client_id"], stored["client_secret"])
    token_file = TokenCache(cache).path_for(service.url, credentials)
    return token_file, token_file.with_suffix(".lock")


class FreshCache(NamedTuple):
    directory: Path
    token_file: Path
    lock: Path


@pytest.fixture(name="fresh_cache")
def _fresh_cache(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> FreshCache:
    """
    Stored credentials and an empty 0700 cache dir (``credentials create`` cached its
    verification token there: removed), with the paths their token would use.
    """
    create_credentials(runner)
    cache = clean_environment["cache"]
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(mode=0o700)
    return FreshCache(cache, *cache_paths(service, clean_environment["config"], cache))


def plant(token_file: Path, *, expires_at: float) -> None:
    token_file.write_text(
        json.dumps({"access_token": PLANTED, "token_type": "bearer", "expires_at": expires_at})
    )
    token_file.chmod(0o600)


def mints(runner: RecordingRunner, service: EmulatorHandle) -> str:
    """
    Run `token`; assert it printed a fresh token (one request, never the planted one).
    """
    before = service.count("token")
    done = runner.run(["token"])
    assert done.exit_code == 0, done.stderr
    token = done.stdout.strip()
    assert token != PLANTED
    assert token.count(".") == 2
    record_secret(token)
    assert service.count("token") == before + 1
    return done.stderr


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_cache_dir_others_can_write_is_not_used(
    runner: RecordingRunner,
    service: EmulatorHandle,
    fresh_cache: FreshCache,
    mode: int,
) -> None:
    """A shared cache dir costs a mint each time, and nothing is written into it."""
    cache, token_file, _ = fresh_cache
    cache.chmod(mode)
    plant(token_file, expires_at=time.time() + 600)
    assert "token_cache_unusable" in mints(runner, service)
    mints(runner, service)
    assert [p.name for p in cache.iterdir()] == [token_file.name]
    assert PLANTED in token_file.read_text()


@AS_ROOT
def test_a_cache_dir_another_user_owns_is_not_used(
    runner: RecordingRunner, service: EmulatorHandle, fresh_cache: FreshCache
) -> None:
    """Their 0700 directory could hold a token they planted: never read, never written."""
    cache, token_file, _ = fresh_cache
    plant(token_file, expires_at=time.time() + 600)
    os.chown(token_file, 12345, 12345)
    os.chown(cache, 12345, 12345)
    assert "belongs to uid 12345" in mints(runner, service)
    assert [p.name for p in cache.iterdir()] == [token_file.name]


@AS_ROOT
def test_a_token_file_another_user_owns_is_not_served(
    runner: RecordingRunner, service: EmulatorHandle, fresh_cache: FreshCache
) -> None:
    """In our own cache dir, a 0600 token file of another uid is a miss, then replaced."""
    token_file = fresh_cache.token_file
    plant(token_file, expires_at=time.time() + 600)
    os.chown(token_file, 12345, 12345)
    mints(runner, service)
    assert token_file.stat().st_uid == os.geteuid()


def test_a_symlinked_lock_creates_nothing_through_the_link(
    runner: RecordingRunner,
    service: EmulatorHandle,
    fresh_cache: FreshCache,
    tmp_path: Path,
) -> None:
    """token-*.lock pointing elsewhere: a mint without the cache; the target never appears."""
    lock = fresh_cache.lock
    victim = tmp_path / "victim-dir" / "created-by-root"
    victim.parent.mkdir()
    lock.symlink_to(victim)
    assert "symbolic link" in mints(runner, service)
    mints(runner, service)
    assert not victim.exists()
    assert lock.is_symlink()


@pytest.mark.parametrize("which", ["token", "lock"])
def test_a_planted_fifo_never_hangs_the_command(
    runner: RecordingRunner,
    service: EmulatorHandle,
    fresh_cache: FreshCache,
    which: str,
) -> None:
    """A FIFO at the token file or the lock file: a mint, at once."""
    _, token_file, lock = fresh_cache
    os.mkfifo(token_file if which == "token" else lock, 0o600)
    mints(runner, service)


@pytest.mark.parametrize(
    "expires_at",
    [float("nan"), float("inf"), 1e18, time.time() + 2 * 86400, -1.0],
    # Ids that every pytest-xdist worker collects alike (not the time of collection).
    ids=["nan", "inf", "milliseconds", "two-days-away", "negative"],
)
def test_a_token_no_service_would_issue_is_not_served(
    runner: RecordingRunner,
    service: EmulatorHandle,
    fresh_cache: FreshCache,
    expires_at: float,
) -> None:
    """An expiry that is not a number, in milliseconds or days away: a miss, not for ever."""
    token_file = fresh_cache.token_file
    token_file.write_text(
        json.dumps({"access_token": PLANTED, "token_type": "bearer", "expires_at": expires_at})
    )
    token_file.chmod(0o600)
    mints(runner, service)


@pytest.mark.parametrize("token_type", ["bearer\x00", "b" * 200_000, "mac"])
def test_a_cached_token_of_another_type_is_a_miss(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    token_type: str,
) -> None:
    """A token an older version cached with a NUL or huge token_type (it would fail `exec`
    for its whole life) is not served: one mint replaces it."""
    create_credentials(runner)
    token_file, _ = cache_paths(service, clean_environment["config"], clean_environment["cache"])
    token_file.write_text(
        json.dumps(
            {"access_token": PLANTED, "token_type": token_type, "expires_at": time.time() + 600}
        )
    )
    token_file.chmod(0o600)
    mints(runner, service)
