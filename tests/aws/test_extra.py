"""
The AWS extra is optional: nothing imports botocore unless an aws-secretsmanager spec is
used, and without the extra such a spec is a usage error naming it (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

AWS_MODULES = ("boto3", "botocore", "moto")
# Makes boto3 and botocore unimportable, as where the extra is not installed.
BLOCK_AWS = (
    "import importlib.abc, sys\n"
    "class NoAws(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] in ('boto3', 'botocore'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "        return None\n"
    "sys.meta_path.insert(0, NoAws())\n"
)
REPORT_AWS_MODULES = (
    f"print(sorted(m for m in sys.modules if m.partition('.')[0] in {AWS_MODULES!r}),"
    " file=sys.stderr)\n"
)


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_importing_the_package_imports_no_aws_module() -> None:
    """`import spatiafi_ops` and every public name load without boto3 or botocore."""
    proc = run_python(
        "import sys, spatiafi_ops\n"
        "for name in spatiafi_ops.__all__:\n"
        "    getattr(spatiafi_ops, name)\n"
        "import spatiafi_ops._config, spatiafi_ops.sinks._publish\n"
        "import spatiafi_ops.credentials._sources\n"
        "spatiafi_ops._config.check_source_spec('aws-secretsmanager:x')\n" + REPORT_AWS_MODULES
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_a_cached_token_from_the_profile_imports_no_aws_module(tmp_path: Path) -> None:
    """`spatiafi-ops token` from the profile's cache never imports boto3 or botocore."""
    from spatiafi_ops._models import AccessToken, AppCredentials
    from spatiafi_ops.tokens._cache import TokenCache

    config, cache = tmp_path / "config", tmp_path / "cache"
    config.mkdir(mode=0o700)
    cache.mkdir(mode=0o700)
    credentials = AppCredentials("0c1e0001-0000-4000-8000-000000000001", "s" * 43)
    (config / "app_credentials.json").write_text(json.dumps(credentials._asdict()))
    (config / "app_credentials.json").chmod(0o600)
    url = "http://127.0.0.1:9"
    TokenCache(cache).save(
        url,
        credentials,
        AccessToken(value="cached.token.value", token_type="bearer", expires_at=time.time() + 800),
    )
    argv = ["--auth-url", url, "--config-dir", str(config), "--cache-dir", str(cache), "token"]
    proc = run_python(
        "import sys\n"
        "from spatiafi_ops.cli import cli\n"
        "try:\n"
        f"    cli.main({argv!r}, standalone_mode=False)\n"
        "finally:\n"
        "    " + REPORT_AWS_MODULES
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cached.token.value\n"
    assert proc.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "spec",
    ["aws-secretsmanager:spatiafi/prod", "aws-secretsmanager:arn:aws:secretsmanager:x:1:secret:y"],
)
def test_without_the_extra_a_token_from_aws_is_exit_2_naming_it(spec: str) -> None:
    """`token` reading from AWS without the extra: exit 2, naming spatiafi-ops[aws]."""
    proc = run_python(
        BLOCK_AWS + "from spatiafi_ops.cli import main\n"
        "sys.argv = ['spatiafi-ops', 'token']\n"
        "main()\n",
        env={"SPATIAFI_CREDENTIALS_FROM": spec, "SPATIAFI_AUTH_URL": "http://127.0.0.1:9"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "spatiafi-ops[aws]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_the_extra_both_parsers_raise_missing_extra() -> None:
    """The library's parsers raise MissingExtra (a UsageError) for either spec."""
    proc = run_python(
        BLOCK_AWS + "from spatiafi_ops._errors import MissingExtra\n"
        "from spatiafi_ops.sinks._publish import parse_sink\n"
        "from spatiafi_ops.credentials._sources import parse_source\n"
        "for parse in (parse_sink, parse_source):\n"
        "    try:\n"
        "        parse('aws-secretsmanager:spatiafi/prod')\n"
        "    except MissingExtra as exc:\n"
        "        print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert all("install the extra spatiafi-ops[aws]" in line for line in lines)
