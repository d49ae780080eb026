"""
The credential store: py-spatiafi files, profiles, modes, corruption (README: Files, Rotation).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from spatiafi_ops._config import Settings
from spatiafi_ops._environ import credentials_from_env
from spatiafi_ops._errors import CredentialFileError, InsecurePermissions, UsageError
from spatiafi_ops._models import AppCredentials
from spatiafi_ops.credentials._sources import load_credentials
from spatiafi_ops.credentials._store import ProfilePaths, Store, list_profiles
from tests.platforms import assert_private

POSIX = pytest.mark.posix("POSIX modes, FIFOs, links and owners")
AS_ROOT = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0,
    reason="another user's files can only be made by root (os.chown)",
)

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
    assert_private(store.paths.credentials)
    assert_private(store.paths.directory)


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
            '{"client_id": "0c1e0001-0000-4000-8000-000000000001", '
            '"client_secret": "sssssssssssssssssssssssssssssssssssssssssss", '
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


VALID = {"user_id": "u", "client_id": "0c1e0001-0000-4000-8000-000000000001"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_secret": "ab\u0007cd"}, "control character"),
        ({"client_secret": "ab\ncd"}, "control character"),
        ({"client_secret": "\ud800abc"}, "not valid UTF-8"),
        ({"client_id": "not-a-uuid"}, "client_id is not a client id"),
        ({"user_id": {"nested": 1}}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"auth_url": "ftp://example.com"}, "auth_url"),
        ({"auth_url": 5}, "auth_url"),
        ({"created_at": "1969-12-31T23:59:59Z"}, "invalid created_at"),
        ({"created_at": 1700000000}, "invalid created_at"),
    ],
)
def test_values_that_cannot_be_stored_credentials_are_refused(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    """Validated where they enter: exit 5 naming the file, never the value."""
    data = {**VALID, "client_secret": "kq3Yx1zUuO1x9CU0hPWt1pWjZJ3Q4bW7W8bDq8cNYtE", **fields}
    path = tmp_path / "app_credentials.json"
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    with pytest.raises(CredentialFileError, match=message) as caught:
        Store(settings_for(tmp_path)).read()
    assert str(path) in str(caught.value)
    assert "kq3Yx1zUuO1x9CU0hPWt1pWjZJ3Q4bW7W8bDq8cNYtE" not in str(caught.value)


@pytest.mark.parametrize(
    ("created_at", "read_as"),
    [
        ("2999-01-01T00:00:00Z", None),  # no clock skew: unknown, the next rotation repairs it
        ("9999-12-31T23:59:59-01:00", None),  # year 10000 UTC
        (None, "now"),  # three days ahead: a clock that ran fast; a rotation waits that long
    ],
)
def test_a_stored_created_at_in_the_future_never_makes_the_profile_unusable(
    tmp_path: Path, created_at: str | None, read_as: str | None
) -> None:
    """Read as now (a believable skew) or as unknown (nonsense), never an error."""
    from spatiafi_ops._models import format_timestamp

    stamped = created_at or format_timestamp(time.time() + 3 * 86400)
    path = tmp_path / "app_credentials.json"
    path.write_text(json.dumps({**VALID, "client_secret": "s" * 43, "created_at": stamped}))
    path.chmod(0o600)
    before = time.time()
    stored = Store(settings_for(tmp_path)).read()
    assert stored is not None
    if read_as is None:
        assert stored.created_at is None
    else:
        assert stored.created_at is not None
        assert before <= stored.created_at <= time.time()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"client_id": NaN}', "NaN"),
        ('{"created_at": Infinity}', "NaN"),
        ('{"user_id": ' + "9" * 5000 + "}", "huge"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_json_this_tool_never_writes_is_refused(tmp_path: Path, content: str, message: str) -> None:
    """NaN, huge numbers, deep nesting: exit 5 material, never a RecursionError (exit 1)."""
    path = tmp_path / "app_credentials.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(CredentialFileError, match=message):
        Store(settings_for(tmp_path)).read()


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


@POSIX
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_secrets_are_refused(tmp_path: Path, mode: int) -> None:
    """A secret file others can read is refused with the chmod to run."""
    store = Store(settings_for(tmp_path))
    store.write(CREDS)
    store.paths.credentials.chmod(mode)
    with pytest.raises(InsecurePermissions, match="chmod 600"):
        store.read()


@POSIX
def test_insecure_permissions_can_be_allowed_explicitly(tmp_path: Path) -> None:
    """--allow-insecure-permissions reads the file anyway."""
    Store(settings_for(tmp_path)).write(CREDS)
    (tmp_path / "app_credentials.json").chmod(0o644)
    assert Store(settings_for(tmp_path, allow_insecure_permissions=True)).read() == CREDS


def test_missing_profile_names_the_command_that_creates_it(tmp_path: Path) -> None:
    """An unknown profile says where it looked and how to create credentials."""
    with pytest.raises(CredentialFileError, match="credentials create"):
        Store(settings_for(tmp_path, "nope")).require()


ENV_ID = "0c1e0001-0000-4000-8000-00000000e0e0"


def test_environment_credentials_win_only_when_both_are_set(tmp_path: Path) -> None:
    """SPATIAFI_CLIENT_ID/SECRET are used only when both are non-empty (py-spatiafi)."""
    Store(settings_for(tmp_path)).write(CREDS)
    env = {"SPATIAFI_CLIENT_ID": ENV_ID, "SPATIAFI_CLIENT_SECRET": "env-secret-value"}
    assert load_credentials(settings_for(tmp_path), env).client_id == ENV_ID
    partial = {"SPATIAFI_CLIENT_ID": ENV_ID, "SPATIAFI_CLIENT_SECRET": ""}
    assert load_credentials(settings_for(tmp_path), partial).client_id == CREDS.client_id


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\n\n"])
def test_a_trailing_newline_in_the_env_secret_is_dropped_with_a_warning(ending: str) -> None:
    """`export SPATIAFI_CLIENT_SECRET="$(...)\n"` is a copy accident, not part of the secret."""
    env = {"SPATIAFI_CLIENT_ID": ENV_ID, "SPATIAFI_CLIENT_SECRET": "env-secret-value" + ending}
    with capture_logs() as logs:
        credentials = credentials_from_env(env)
    assert credentials is not None
    assert credentials.client_secret == "env-secret-value"
    assert [e["event"] for e in logs] == ["client_secret_newline_stripped"]
    assert "env-secret-value" not in str(logs)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SPATIAFI_CLIENT_ID", "env-id", "SPATIAFI_CLIENT_ID is not a client id"),
        ("SPATIAFI_CLIENT_ID", ENV_ID + "x", "SPATIAFI_CLIENT_ID is not a client id"),
        ("SPATIAFI_CLIENT_SECRET", "abc\tdef", "control character"),
        ("SPATIAFI_CLIENT_SECRET", "abc\x1b[31mdef", "control character"),
        ("SPATIAFI_CLIENT_SECRET", "abc\x85def", "control character"),
        ("SPATIAFI_CLIENT_SECRET", "abc\udcffdef", "not valid UTF-8"),
        ("SPATIAFI_CLIENT_SECRET", "\n", "empty"),
    ],
)
def test_env_values_that_cannot_be_credentials_are_usage_errors(
    name: str, value: str, message: str
) -> None:
    """Exit 2 naming the variable, never its value (a secret may be in either)."""
    env = {"SPATIAFI_CLIENT_ID": ENV_ID, "SPATIAFI_CLIENT_SECRET": "env-secret-value", name: value}
    with pytest.raises(UsageError, match=message) as caught:
        credentials_from_env(env)
    assert name in str(caught.value)
    if value.strip():
        assert value.strip() not in str(caught.value)


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 65, "a b"])
def test_profile_names_that_escape_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    """Profile names are path segments: no separators, dots first or whitespace."""
    with pytest.raises(ValueError, match="profile name"):
        ProfilePaths.of(tmp_path, name)


def test_backup_keeps_replaced_credentials_privately(tmp_path: Path) -> None:
    """A backup is a 0600 copy named after the client id."""
    path = Store(settings_for(tmp_path)).backup(CREDS)
    assert CREDS.client_id in path.name
    assert_private(path)
    assert json.loads(path.read_text())["client_secret"] == CREDS.client_secret


@POSIX
def test_the_insecure_permissions_error_names_credentials_import(tmp_path: Path) -> None:
    """py-spatiafi writes 0644: the error says which command adopts the file."""
    Store(settings_for(tmp_path, "prod")).write(CREDS)
    path = tmp_path / "profiles" / "prod" / "app_credentials.json"
    path.chmod(0o644)
    with pytest.raises(InsecurePermissions, match="--profile prod credentials import"):
        Store(settings_for(tmp_path, "prod")).read()


def test_show_names_the_legacy_file_when_that_is_what_it_read(tmp_path: Path) -> None:
    """credentials show says which file it read: the tutorial's, when only that exists."""
    legacy = tmp_path / "app_credentials"
    legacy.write_text(json.dumps({**VALID, "client_secret": "s" * 43}))
    legacy.chmod(0o600)
    shown = Store(settings_for(tmp_path)).describe()
    assert shown["path"] == str(legacy)
    assert shown["client_secret"] == "**redacted**"
    Store(settings_for(tmp_path)).write(CREDS)
    assert Store(settings_for(tmp_path)).describe()["path"] == str(
        tmp_path / "app_credentials.json"
    )


def test_a_replaced_legacy_file_is_kept_privately(tmp_path: Path) -> None:
    """Writing our file moves the tutorial's aside into backups/, 0600 whatever it was."""
    legacy = tmp_path / "app_credentials"
    legacy.write_text(json.dumps({**VALID, "client_secret": "s" * 43}))
    legacy.chmod(0o644)
    Store(settings_for(tmp_path)).write(CREDS)
    assert not legacy.exists()
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name.endswith("-legacy.json")
    assert_private(backup)


STATE_PATHS = ["app_credentials.json", "app_credentials", "rotation-state.json"]


@POSIX
@pytest.mark.parametrize("name", STATE_PATHS)
def test_a_fifo_at_a_state_path_is_refused_without_waiting(tmp_path: Path, name: str) -> None:
    """A FIFO (no writer) at any state path is exit 5 material at once, not a hang."""
    os.mkfifo(tmp_path / name, 0o600)
    store = Store(settings_for(tmp_path))
    read = store.has_unfinished_rotation if name == "rotation-state.json" else store.read
    with pytest.raises(CredentialFileError, match="named pipe"):
        read()


@POSIX
@pytest.mark.parametrize("name", STATE_PATHS)
def test_a_symlink_at_a_state_path_is_refused(tmp_path: Path, name: str) -> None:
    """Even a link to a valid private file of ours: state files are never followed."""
    real = tmp_path / "elsewhere.json"
    real.write_text(
        json.dumps({"version": 1, "rotation": None, **VALID, "client_secret": "s" * 43})
    )
    real.chmod(0o600)
    (tmp_path / name).symlink_to(real)
    store = Store(settings_for(tmp_path))
    read = store.has_unfinished_rotation if name == "rotation-state.json" else store.read
    with pytest.raises(InsecurePermissions, match="symbolic link"):
        read()


def test_an_unfinished_rotation_is_seen(tmp_path: Path) -> None:
    """The state file's "rotation" is what import and create refuse to run across."""
    store = Store(settings_for(tmp_path))
    assert store.has_unfinished_rotation() is False
    state = tmp_path / "rotation-state.json"
    state.write_text(json.dumps({"version": 1, "rotation": None}))
    state.chmod(0o600)
    assert store.has_unfinished_rotation() is False
    state.write_text(json.dumps({"version": 1, "rotation": {"rotation_id": "r"}}))
    assert store.has_unfinished_rotation() is True


@POSIX
@pytest.mark.parametrize("profile", ["default", "prod"])
def test_a_profile_directory_others_can_write_is_refused(tmp_path: Path, profile: str) -> None:
    """Config dir, profiles/ and the profile's own dir must not be writable by others."""
    Store(settings_for(tmp_path / "cfg", profile)).write(CREDS)
    for directory in ProfilePaths.of(tmp_path / "cfg", profile).directories:
        directory.chmod(0o777)
        with pytest.raises(InsecurePermissions, match=f"chmod 700 {directory}"):
            Store(settings_for(tmp_path / "cfg", profile)).read()
        with pytest.raises(InsecurePermissions, match=f"chmod 700 {directory}"):
            Store(settings_for(tmp_path / "cfg", profile)).write(CREDS)
        directory.chmod(0o700)
    assert Store(settings_for(tmp_path / "cfg", profile)).read() == CREDS


@POSIX
@AS_ROOT
def test_another_users_0600_file_in_a_writable_config_dir_is_refused(tmp_path: Path) -> None:
    """Someone else's 0600 app_credentials.json is never used, whatever the mode says."""
    config = tmp_path / "cfg"
    Store(settings_for(config)).write(CREDS)
    os.chown(config / "app_credentials.json", 12345, 12345)
    with pytest.raises(InsecurePermissions, match="belongs to uid 12345"):
        Store(settings_for(config)).read()
    with pytest.raises(InsecurePermissions, match="belongs to uid 12345"):
        Store(settings_for(config, allow_insecure_permissions=True)).read()
    config.chmod(0o777)
    with pytest.raises(InsecurePermissions):
        Store(settings_for(config)).read()


@POSIX
@AS_ROOT
def test_a_config_dir_another_user_owns_is_refused(tmp_path: Path) -> None:
    """A directory of another uid is refused before any file in it is opened."""
    config = tmp_path / "cfg"
    Store(settings_for(config)).write(CREDS)
    os.chown(config, 12345, 12345)
    with pytest.raises(InsecurePermissions, match=f"{config} belongs to uid 12345"):
        Store(settings_for(config)).read()
