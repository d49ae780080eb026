"""
The credential store: py-spatiafi files, profiles, modes, corruption (SPEC §2, §5).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import CredentialFileError, InsecurePermissions
from spatiafi_ops._models import AppCredentials
from spatiafi_ops._sources import load_credentials
from spatiafi_ops._store import ProfilePaths, Store, list_profiles

CREDS = AppCredentials(
    client_id="0b0c5b1e-1111-4222-8333-444455556666",
    client_secret="kq3Yx1zUuO1x9CU0hPWt1pWjZJ3Q4bW7W8bDq8cNYtE",
    user_id="u-1",
    created_at=1_700_000_000.0,
    auth_url="http://127.0.0.1:1",
)


def settings_for(config: Path, profile: str = "default", **kwargs: object) -> Settings:
    return Settings(config_dir=config, profile=profile, **kwargs)  # type: ignore[arg-type]


def test_write_then_read_round_trips_with_private_modes(tmp_path: Path) -> None:
    """Stored credentials read back equal; the file is 0600 and its directory 0700."""
    store = Store(settings_for(tmp_path / "cfg"))
    store.write(CREDS)
    assert store.read() == CREDS
    assert stat.S_IMODE(store.paths.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.paths.directory.stat().st_mode) == 0o700


def test_default_profile_file_keeps_the_py_spatiafi_shape(tmp_path: Path) -> None:
    """The default profile is <config>/app_credentials.json: user_id, client_id, client_secret."""
    store = Store(settings_for(tmp_path))
    store.write(CREDS)
    data = json.loads((tmp_path / "app_credentials.json").read_text())
    assert list(data)[:3] == ["user_id", "client_id", "client_secret"]
    assert data["created_at"] == "2023-11-14T22:13:20Z"


def test_named_profiles_live_under_profiles(tmp_path: Path) -> None:
    """Profile NAME is <config>/profiles/NAME/app_credentials.json and is listed."""
    Store(settings_for(tmp_path, "prod")).write(CREDS)
    assert (tmp_path / "profiles" / "prod" / "app_credentials.json").is_file()
    Store(settings_for(tmp_path)).write(CREDS)
    assert list_profiles(tmp_path) == ["default", "prod"]


def test_legacy_extensionless_file_is_read_for_the_default_profile(tmp_path: Path) -> None:
    """The first tutorial wrote app_credentials (no extension): read it as a fallback."""
    legacy = tmp_path / "app_credentials"
    client_id = "0c1e0001-0000-4000-8000-000000000001"
    legacy.write_text(
        json.dumps({"user_id": "u", "client_id": client_id, "client_secret": "s" * 43})
    )
    legacy.chmod(0o600)
    assert Store(settings_for(tmp_path)).require().client_id == client_id


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        ('{"client_id": "c"}', "client_secret missing"),
        ('{"client_id": "", "client_secret": "s"}', "client_id missing"),
        ('{"client_id": "c", "client_secret": 5}', "client_secret missing"),
        (
            '{"client_id": "0c1e0001-0000-4000-8000-000000000001", "client_secret": "s", '
            '"created_at": "yesterday"}',
            "invalid created_at",
        ),
    ],
)
def test_corrupt_or_incomplete_files_are_reported_and_left_alone(
    tmp_path: Path, content: str, message: str
) -> None:
    """A broken file raises CredentialFileError naming the problem, and is not rewritten."""
    path = tmp_path / "app_credentials.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(CredentialFileError, match=message):
        Store(settings_for(tmp_path)).read()
    assert path.read_text() == content


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a clear error, not a UnicodeDecodeError."""
    path = tmp_path / "app_credentials.json"
    path.write_bytes(b'{"client_id": "\xff"}')
    path.chmod(0o600)
    with pytest.raises(CredentialFileError, match="not UTF-8"):
        Store(settings_for(tmp_path)).read()


def test_a_directory_in_place_of_the_file_is_reported(tmp_path: Path) -> None:
    """A directory named app_credentials.json is a clear error."""
    (tmp_path / "app_credentials.json").mkdir()
    with pytest.raises(CredentialFileError, match="is a directory"):
        Store(settings_for(tmp_path)).read()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_secrets_are_refused(tmp_path: Path, mode: int) -> None:
    """A secret file others can read is refused with the chmod to run."""
    store = Store(settings_for(tmp_path))
    store.write(CREDS)
    store.paths.credentials.chmod(mode)
    with pytest.raises(InsecurePermissions, match="chmod 600"):
        store.read()


def test_insecure_permissions_can_be_allowed_explicitly(tmp_path: Path) -> None:
    """--allow-insecure-permissions reads the file anyway."""
    Store(settings_for(tmp_path)).write(CREDS)
    (tmp_path / "app_credentials.json").chmod(0o644)
    assert Store(settings_for(tmp_path, allow_insecure_permissions=True)).read() == CREDS


def test_missing_profile_names_the_command_that_creates_it(tmp_path: Path) -> None:
    """An unknown profile says where it looked and how to create credentials."""
    with pytest.raises(CredentialFileError, match="credentials create"):
        Store(settings_for(tmp_path, "nope")).require()


def test_environment_credentials_win_only_when_both_are_set(tmp_path: Path) -> None:
    """SPATIAFI_CLIENT_ID/SECRET are used only when both are non-empty (py-spatiafi)."""
    Store(settings_for(tmp_path)).write(CREDS)
    env = {"SPATIAFI_CLIENT_ID": "env-id", "SPATIAFI_CLIENT_SECRET": "env-secret-value"}
    assert load_credentials(settings_for(tmp_path), env).client_id == "env-id"
    partial = {"SPATIAFI_CLIENT_ID": "env-id", "SPATIAFI_CLIENT_SECRET": ""}
    assert load_credentials(settings_for(tmp_path), partial).client_id == CREDS.client_id


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 65, "a b"])
def test_profile_names_that_escape_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    """Profile names are path segments: no separators, dots first or whitespace."""
    with pytest.raises(ValueError, match="profile name"):
        ProfilePaths.of(tmp_path, name)


def test_backup_keeps_replaced_credentials_privately(tmp_path: Path) -> None:
    """A backup is a 0600 copy named after the client id."""
    path = Store(settings_for(tmp_path)).backup(CREDS)
    assert CREDS.client_id in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["client_secret"] == CREDS.client_secret
    assert not os.access(path, os.X_OK)
