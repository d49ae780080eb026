"""
One settings parser: a global option and its environment variable mean the same thing,
accept the same values and refuse the same ones, and the profile's auth URL is its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from spatiafi_ops import Settings, UsageError
from spatiafi_ops._config import DEFAULT_AUTH_URL, SETTINGS, InvalidSetting, parse_flag
from spatiafi_ops.cli import cli

CASES: list[tuple[str, str, Any]] = [
    ("auth_url", "http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ("auth_url", "https://auth.example.com", "https://auth.example.com"),
    ("auth_url", "ftp://x", None),
    ("auth_url", "http://u:p@h", None),
    ("profile", "ci", "ci"),
    ("profile", "../etc", None),
    ("timeout", "90s", 90.0),
    ("timeout", "0", None),
    ("timeout", "2h", None),
    ("deadline", "15m", 900.0),
    ("deadline", "-1", None),
    ("deadline", "3650d", None),
    ("config_dir", "/tmp/x", Path("/tmp/x")),
    ("allow_insecure_permissions", "1", True),
    ("allow_insecure_permissions", "off", False),
    ("allow_insecure_permissions", "maybe", None),
    ("allow_insecure_transport", "true", True),
]
SPECS = {spec.field: spec for spec in SETTINGS}


@pytest.mark.parametrize(("field", "raw", "expected"), CASES)
def test_the_variable_and_the_option_parse_alike(field: str, raw: str, expected: Any) -> None:
    """Settings.from_env and the CLI's option accept and refuse the same values."""
    spec = SPECS[field]
    is_flag = spec.parse is parse_flag
    args = [spec.option] if is_flag else [spec.option, raw]
    if expected is None:
        with pytest.raises(InvalidSetting) as caught:
            Settings.from_env({spec.env: raw})
        assert caught.value.setting == spec.env
        assert spec.env in str(caught.value)
        if is_flag:
            return  # a flag takes no value on the command line
        with pytest.raises(click.BadParameter):
            cli.make_context("spatiafi-ops", [*args, "token"])
        return
    assert getattr(Settings.from_env({spec.env: raw}), field) == expected
    if expected is False:
        return  # a flag cannot be given as false on the command line
    context = cli.make_context("spatiafi-ops", [*args, "token"])
    assert context.params[field] == expected


def test_an_invalid_setting_is_a_usage_error() -> None:
    """Library users get the package's exception, which the CLI maps to exit 2."""
    with pytest.raises(UsageError):
        Settings.from_env({"SPATIAFI_TIMEOUT": "soon"})


def test_empty_variables_are_unset() -> None:
    """An empty variable (a CI secret that is not set) falls back to the default."""
    settings = Settings.from_env({spec.env: "" for spec in SETTINGS})
    assert settings == Settings()


@pytest.mark.parametrize(
    ("given", "stored", "expected", "warned"),
    [
        (None, None, DEFAULT_AUTH_URL, False),
        (None, "http://staging:8000", "http://staging:8000", False),
        ("http://other:9000", "http://staging:8000", "http://other:9000", True),
        ("http://staging:8000", "http://staging:8000/", "http://staging:8000", False),
        ("http://other:9000", None, "http://other:9000", False),
    ],
)
def test_a_profile_remembers_its_service(
    given: str | None, stored: str | None, expected: str, warned: bool
) -> None:
    """The URL a profile's credentials were created at is its default; a given one wins,
    with a warning when they differ."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        resolved = Settings(auth_url=given).resolve(stored)
    assert resolved.url == expected
    assert any(e["event"] == "auth_url_overridden" for e in logs) is warned


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"XDG_CONFIG_HOME": "/srv/conf", "XDG_CACHE_HOME": "/srv/cache"},
        {"XDG_CONFIG_HOME": "  ", "XDG_CACHE_HOME": ""},
        {"XDG_CONFIG_HOME": "relative/conf"},
    ],
)
def test_the_default_dirs_are_platformdirs_own(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without importing it, the default config and cache dirs are what platformdirs (and
    so py-spatiafi) computes, whatever the XDG variables say."""
    import platformdirs

    from spatiafi_ops._config import APP_NAME, default_cache_dir, default_config_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert default_config_dir() == Path(platformdirs.user_config_dir(APP_NAME))
    assert default_cache_dir() == Path(platformdirs.user_cache_dir(APP_NAME))


def test_the_token_cache_for_settings_is_their_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """TokenCache.for_settings uses --cache-dir when set, else the per-user default."""
    from spatiafi_ops._config import default_cache_dir
    from spatiafi_ops.tokens._cache import TokenCache

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    chosen = Settings(cache_dir=tmp_path / "cache")
    assert TokenCache.for_settings(chosen).directory == tmp_path / "cache"
    assert TokenCache.for_settings(Settings()).directory == default_cache_dir()
