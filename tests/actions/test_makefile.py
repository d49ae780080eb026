"""
examples/spatiafi.mk: recipes get a fresh token in their environment, never echoed or in argv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import record_output, record_secret

from .conftest import REPO

MAKEFILE = REPO / "examples" / "spatiafi.mk"

pytestmark = [
    pytest.mark.posix("make recipes in /bin/sh; Windows runners have mingw32-make and no sh"),
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

RECORDER = """#!{python}
# Records how it was called: argv, the token variables, and any --env-file it was given.
import json, os, stat, sys
argv = sys.argv[1:]
record = {{
    "argv": argv,
    "token": os.environ.get("SPATIAFI_ACCESS_TOKEN"),
    "expires_at": os.environ.get("SPATIAFI_TOKEN_EXPIRES_AT"),
    "secret_in_env": "SPATIAFI_CLIENT_SECRET" in os.environ,
    "cwd": os.getcwd(),
}}
if "--env-file" in argv:
    path = argv[argv.index("--env-file") + 1]
    record["env_file"] = path
    record["env_file_mode"] = oct(stat.S_IMODE(os.stat(path).st_mode))
    with open(path, encoding="utf-8") as handle:
        record["env_file_text"] = handle.read()
with open(os.environ["RECORD"], "w", encoding="utf-8") as handle:
    json.dump(record, handle)
"""


@pytest.fixture(name="make_env")
def _make_env(
    tmp_path: Path, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("record", "docker"):
        script = bindir / name
        script.write_text(RECORDER.format(python=sys.executable), encoding="utf-8")
        script.chmod(0o755)
    return {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "RECORD": str(tmp_path / "record.json"),
        "SPATIAFI_OPS": str(Path(sys.executable).parent / "spatiafi-ops"),
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_CLIENT_ID": app_credentials["client_id"],
        "SPATIAFI_CLIENT_SECRET": app_credentials["client_secret"],
        "SPATIAFI_CONFIG_DIR": str(tmp_path / "config"),
        "SPATIAFI_CACHE_DIR": str(tmp_path / "cache"),
        "SPATIAFI_LOG_FORMAT": "json",
    }


def _make(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        ["make", "--no-print-directory", *args],
        env=env,
        cwd=cwd or Path(env["HOME"]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(completed.stdout, completed.stderr)
    return completed


def _record(env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(env["RECORD"]).read_text(encoding="utf-8"))
    record_secret(data.get("token") or "")
    return data


def test_spatiafi_run_passes_the_token_through_the_environment_only(
    make_env: dict[str, str], spatiafi_emulator: EmulatorHandle
) -> None:
    """
    The command gets SPATIAFI_ACCESS_TOKEN in its env; make's output and argv never hold it.
    """
    completed = _make(
        make_env, "-f", str(MAKEFILE), "spatiafi-run", "SPATIAFI_CMD=record deploy --env prod"
    )

    assert completed.returncode == 0, completed.stderr
    record = _record(make_env)
    token = record["token"]
    assert token
    assert token.count(".") == 2
    assert record["expires_at"].isdigit()
    assert record["argv"] == ["deploy", "--env", "prod"]
    assert record["secret_in_env"] is False
    assert token not in completed.stdout + completed.stderr
    assert spatiafi_emulator.count("token") == 1


def test_make_n_shows_the_recipe_without_minting(
    make_env: dict[str, str], spatiafi_emulator: EmulatorHandle
) -> None:
    """
    A dry run prints the substitution, not a token, and sends no request (unlike $(shell)).
    """
    completed = _make(make_env, "-n", "-f", str(MAKEFILE), "spatiafi-run", "SPATIAFI_CMD=record")

    assert completed.returncode == 0, completed.stderr
    assert "exec --min-ttl 5m -- record" in completed.stdout
    assert spatiafi_emulator.count("token") == 0
    assert not Path(make_env["RECORD"]).exists()


def test_a_failed_mint_stops_the_recipe(make_env: dict[str, str]) -> None:
    """
    Rejected credentials: the CLI's one-sentence error, make fails, the deploy never runs.
    """
    make_env["SPATIAFI_CLIENT_SECRET"] = make_env["SPATIAFI_CLIENT_SECRET"][::-1]
    completed = _make(make_env, "-f", str(MAKEFILE), "spatiafi-run", "SPATIAFI_CMD=record")

    assert completed.returncode == 2
    assert "the service rejected the credentials" in completed.stderr
    assert "Error 3" in completed.stderr  # make reports the CLI's exit code
    assert not Path(make_env["RECORD"]).exists()


def test_an_including_makefile_gets_a_private_env_file_for_docker(
    make_env: dict[str, str], tmp_path: Path
) -> None:
    """
    Included: the user's default goal stays theirs; docker gets a 0600 env file, removed after.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "Makefile").write_text(
        f"include {MAKEFILE}\n\n"
        "deploy:\n"
        '\t$(SPATIAFI_WITH_ENV_FILE) docker run --rm --env-file "$$SPATIAFI_ENV_FILE" my/image\n',
        encoding="utf-8",
    )
    completed = _make(make_env, cwd=project)

    assert completed.returncode == 0, completed.stderr
    record = _record(make_env)
    assert record["argv"][:2] == ["run", "--rm"]
    assert record["argv"][-1] == "my/image"
    assert record["env_file_mode"] == "0o600"
    assert not Path(record["env_file"]).exists()
    lines = dict(line.split("=", 1) for line in record["env_file_text"].splitlines())
    token = lines["SPATIAFI_ACCESS_TOKEN"]
    assert token.count(".") == 2
    assert all(token not in arg for arg in record["argv"])
    assert token not in completed.stdout + completed.stderr


def _project(tmp_path: Path, recipe: str) -> Path:
    project = tmp_path / "project"
    (project / "infra").mkdir(parents=True)
    (project / "Makefile").write_text(
        f"include {MAKEFILE}\n\ndeploy:\n\t{recipe}\n", encoding="utf-8"
    )
    return project


def test_spatiafi_exec_passes_on_the_commands_exit_code(
    make_env: dict[str, str], tmp_path: Path
) -> None:
    """
    make reports the command's own exit code; the command ran with the token.
    """
    project = _project(tmp_path, "$(SPATIAFI_EXEC) sh -c 'record; exit 7'")
    completed = _make(make_env, cwd=project)

    assert completed.returncode == 2
    assert "Error 7" in completed.stderr
    assert _record(make_env)["token"]


def test_with_token_gives_a_shell_line_the_token_or_stops_it(
    make_env: dict[str, str], tmp_path: Path
) -> None:
    """
    $(SPATIAFI_WITH_TOKEN) serves shell syntax (cd, &&); a failed mint stops the line there.
    """
    project = _project(tmp_path, "$(SPATIAFI_WITH_TOKEN) cd infra && record deploy")
    completed = _make(make_env, cwd=project)
    assert completed.returncode == 0, completed.stderr
    record = _record(make_env)
    assert record["token"]
    assert record["cwd"] == str(project / "infra")
    assert record["token"] not in completed.stdout + completed.stderr

    Path(make_env["RECORD"]).unlink()
    make_env["SPATIAFI_CLIENT_SECRET"] = make_env["SPATIAFI_CLIENT_SECRET"][::-1]
    failed = _make(make_env, cwd=project)
    assert failed.returncode == 2
    assert "Error 3" in failed.stderr
    assert not Path(make_env["RECORD"]).exists()
