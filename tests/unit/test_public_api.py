"""
The public surface: a sorted, resolvable __all__, and lazy imports that keep the hot path light.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import spatiafi_ops
from spatiafi_ops import emit, emulator

HEAVY = ("requests", "authlib", "tenacity", "structlog")


def test_all_is_sorted_and_every_name_resolves() -> None:
    """Every exported name is importable from the package root."""
    names = [n for n in spatiafi_ops.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in spatiafi_ops.__all__:
        assert getattr(spatiafi_ops, name) is not None


def test_public_subpackages_declare_all() -> None:
    """emit and emulator re-export their public names."""
    for module in (emit, emulator):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_cached_token_path_imports_no_heavy_module(tmp_path: Path) -> None:
    """`token` served from the cache imports neither requests, authlib, tenacity nor structlog."""
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.mkdir(mode=0o700)
    cache.mkdir(mode=0o700)
    client_id = "0c1e0001-0000-4000-8000-000000000001"
    creds = {"user_id": "u", "client_id": client_id, "client_secret": "s" * 43}
    (config / "app_credentials.json").write_text(json.dumps(creds))
    (config / "app_credentials.json").chmod(0o600)
    from spatiafi_ops._models import AccessToken, AppCredentials
    from spatiafi_ops.tokens._cache import TokenCache

    url = "http://127.0.0.1:9"
    TokenCache(cache).save(
        url,
        AppCredentials("0c1e0001-0000-4000-8000-000000000001", "s" * 43),
        AccessToken(value="cached.token.value", token_type="bearer", expires_at=time.time() + 800),
    )
    argv = ["--auth-url", url, "--config-dir", str(config), "--cache-dir", str(cache), "token"]
    probe = (
        "import sys\n"
        "from spatiafi_ops.cli import cli\n"
        "try:\n"
        f"    cli.main({argv!r}, standalone_mode=False)\n"
        "finally:\n"
        f"    print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cached.token.value\n"
    assert proc.stderr.strip().splitlines()[-1] == "[]"
