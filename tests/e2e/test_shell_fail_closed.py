"""
The README's shell forms fail closed: when no token can be had, the script stops, with
the CLI's exit code, under real bash and dash.

The contrast is the point: `eval "$(spatiafi-ops token --format shell)"` goes on when the
mint fails (`eval ""` succeeds), and so does `vars=$(...) && eval "$vars"` under `set -e`,
because errexit ignores a failure on the left of `&&` (POSIX.1-2017 XCU 2.14, `set -e`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops.emulator import EmulatorHandle
from tests.conftest import final_error, record_output, record_secret

# On Windows a bare `bash` may start WSL's bash.exe (System32 is searched before PATH).
SHELLS = [
    pytest.param(
        name,
        marks=[
            pytest.mark.posix("a POSIX shell script"),
            pytest.mark.skipif(shutil.which(name) is None, reason=f"no {name}"),
        ],
    )
    for name in ("bash", "dash")
]

# The "deploy": it records the token it was given (none: an empty file).
DEPLOY = 'printf %s "${SPATIAFI_ACCESS_TOKEN-}" > "$TOKEN_OUT"\n'
# What README shows, and what it warns against, each followed by the deploy.
DOCUMENTED = 'vars=$(spatiafi-ops token --format shell) || exit\neval "$vars"\n' + DEPLOY
EXEC = "spatiafi-ops exec -- sh -c " + shlex.quote(DEPLOY)  # the deploy is CMD
PLAIN = 'eval "$(spatiafi-ops token --format shell)"\n' + DEPLOY
AND_EVAL = 'vars=$(spatiafi-ops token --format shell) && eval "$vars"\n' + DEPLOY


def run_script(shell: str, body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [shell, "-c", body], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    record_output(proc.stderr)
    return proc


def script_env(service: EmulatorHandle, tmp_path: Path, *, good: bool) -> dict[str, str]:
    """
    The environment of a deploy script: spatiafi-ops on PATH, app credentials that work
    (*good*) or that the service rejects.
    """
    client = service.create_client()
    record_secret(client.client_secret)
    secret = client.client_secret if good else client.client_secret[::-1]
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SPATIAFI_CLIENT_ID": client.client_id,
        "SPATIAFI_CLIENT_SECRET": secret,
        "TOKEN_OUT": str(tmp_path / "deployed-with"),
    }


@pytest.mark.parametrize("errexit", ["set -e\n", ""], ids=["set-e", "no-set-e"])
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("form", [DOCUMENTED, EXEC], ids=["token-or-exit", "exec"])
def test_the_documented_forms_stop_the_script_when_the_mint_fails(
    service: EmulatorHandle, tmp_path: Path, shell: str, errexit: str, form: str
) -> None:
    """Rejected credentials: the script ends with exit 3 and the deploy line never runs."""
    env = script_env(service, tmp_path, good=False)
    proc = run_script(shell, errexit + form, env)

    assert proc.returncode == 3, proc.stderr
    assert final_error(proc.stderr)["message"].startswith("the service rejected the credentials")
    assert not Path(env["TOKEN_OUT"]).exists()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("form", [DOCUMENTED, EXEC], ids=["token-or-exit", "exec"])
def test_the_documented_forms_hand_the_token_on_when_the_mint_works(
    service: EmulatorHandle, tmp_path: Path, shell: str, form: str
) -> None:
    """The same scripts with good credentials: the deploy line runs with the token."""
    env = script_env(service, tmp_path, good=True)
    proc = run_script(shell, "set -e\n" + form, env)

    assert proc.returncode == 0, proc.stderr
    token = Path(env["TOKEN_OUT"]).read_text(encoding="utf-8")
    record_secret(token)
    assert token.count(".") == 2


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("form", [PLAIN, AND_EVAL], ids=["plain-eval", "and-eval"])
def test_the_forms_readme_warns_against_go_on_without_a_token(
    service: EmulatorHandle, tmp_path: Path, shell: str, form: str
) -> None:
    """
    The contrast: under `set -e`, plain `eval "$(...)"` and `vars=$(...) && eval` both
    let the deploy line run, with no token, and the script exits 0.
    """
    env = script_env(service, tmp_path, good=False)
    proc = run_script(shell, "set -e\n" + form, env)

    assert proc.returncode == 0, proc.stderr
    assert Path(env["TOKEN_OUT"]).read_text(encoding="utf-8") == ""


def test_the_docs_show_the_form_tested_here() -> None:
    """README and docs/scripting.md recommend exactly the form these tests prove."""
    repo = Path(__file__).resolve().parents[2]
    guide = (repo / "docs" / "scripting.md").read_text(encoding="utf-8")
    readme = (repo / "README.md").read_text(encoding="utf-8")
    first_line = DOCUMENTED.splitlines()[0]
    assert first_line in guide
    assert first_line in readme
    assert "spatiafi-ops exec -- ./deploy.sh" in readme
