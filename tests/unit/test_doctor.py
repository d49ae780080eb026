"""
doctor's credentials check: private means mode bits on POSIX and the user's profile on
Windows (docs/files.md, "Windows"); each branch driven by its platform argument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._doctor import check_store
from spatiafi_ops._models import AppCredentials
from spatiafi_ops.credentials._store import Store

CREDS = AppCredentials(
    client_id="0b0c5b1e-1111-4222-8333-444455556666",
    client_secret="kq3Yx1zUuO1x9CU0hPWt1pWjZJ3Q4bW7W8bDq8cNYtE",
    user_id="u-1",
    created_at=1_700_000_000.0,
)


@pytest.fixture(name="home")
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """
    A user profile of the test's own: Path.home() reads HOME on POSIX, USERPROFILE on Windows.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    return home


def stored_in(config: Path, mode: int) -> Settings:
    """
    Credentials stored in *config*, then the directory given *mode* (py-spatiafi's is 0755).
    """
    settings = Settings(config_dir=config)
    Store(settings).write(CREDS)
    config.chmod(mode)
    return settings


@pytest.mark.posix("group and other mode bits")
def test_on_posix_a_directory_others_can_read_is_a_warning_with_the_chmod(tmp_path: Path) -> None:
    """0755 passes the store's checks (nobody else can write) but others can list it."""
    config = tmp_path / "config"
    warned = check_store(stored_in(config, 0o755), platform="linux")
    private = check_store(stored_in(config, 0o700), platform="linux")
    assert (warned.verdict, warned.exit_code) == ("warn", 0)
    assert f"chmod 700 {config}" in warned.detail
    assert private.verdict == "ok"


def test_on_windows_mode_bits_are_not_judged_inside_the_profile(home: Path) -> None:
    """The same 0755 directory under the user's profile is fine on Windows: no chmod advice."""
    config = home / "AppData" / "Local" / "spatiafi"
    check = check_store(stored_in(config, 0o755), platform="win32")
    assert check.verdict == "ok", check.detail
    assert "under your profile" in check.detail
    assert "chmod" not in check.detail


def test_on_windows_a_config_dir_outside_the_profile_is_a_warning(
    home: Path, tmp_path: Path
) -> None:
    """Outside the profile the folder's own access rules apply: warned, naming both dirs."""
    config = tmp_path / "shared" / "spatiafi"
    check = check_store(stored_in(config, 0o700), platform="win32")
    assert (check.verdict, check.exit_code) == ("warn", 0)
    assert str(config) in check.detail
    assert str(home) in check.detail
    assert "chmod" not in check.detail
