"""
Shell completion as README documents it: `_SPATIAFI_OPS_COMPLETE=<shell>_source spatiafi-ops`
prints a script for bash, zsh and fish, and the completions it asks for are ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import record_output

# Where this install keeps its console script (bin/, or Scripts on Windows).
BIN = Path(sys.executable).parent

# What each shell's script must hold to register itself for spatiafi-ops.
SCRIPT_MARKS = {
    "bash": "complete -o nosort -F _spatiafi_ops_completion spatiafi-ops",
    "zsh": "#compdef spatiafi-ops",
    "fish": "complete --no-files --command spatiafi-ops",
}


def completion(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(proc.stderr)
    return proc


@pytest.mark.parametrize("shell", sorted(SCRIPT_MARKS))
def test_a_completion_script_for_each_shell(shell: str) -> None:
    """bash_source, zsh_source and fish_source each print their shell's script, exit 0."""
    proc = completion({"_SPATIAFI_OPS_COMPLETE": f"{shell}_source"})

    assert proc.returncode == 0, proc.stderr
    assert SCRIPT_MARKS[shell] in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("spatiafi-ops ex", {"exec"}),
        ("spatiafi-ops --pro", {"--profile"}),
        ("spatiafi-ops exec --", {"--min-ttl", "--prefix", "--no-cache"}),
        ("spatiafi-ops token --format g", {"github", "gitlab"}),
    ],
)
def test_completions_name_our_commands_options_and_formats(words: str, expected: set[str]) -> None:
    """What bash's completion function asks for: commands, options, format names."""
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    proc = completion(
        {"_SPATIAFI_OPS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    )

    assert proc.returncode == 0, proc.stderr
    offered = {line.split(",", 1)[1] for line in proc.stdout.splitlines()}
    assert expected <= offered


@pytest.mark.posix("bash; on Windows `bash` may start WSL's bash.exe")
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_with_the_sourced_script() -> None:
    """In a real bash: eval the script, then its function fills COMPREPLY for `ex<TAB>`."""
    script = (
        'eval "$(_SPATIAFI_OPS_COMPLETE=bash_source spatiafi-ops)"\n'
        "complete -p spatiafi-ops\n"
        "COMP_WORDS=(spatiafi-ops ex); COMP_CWORD=1\n"
        "_spatiafi_ops_completion spatiafi-ops\n"
        'printf "reply:%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    record_output(proc.stderr)

    assert proc.returncode == 0, proc.stderr
    assert "_spatiafi_ops_completion spatiafi-ops" in proc.stdout
    assert "reply:exec" in proc.stdout.splitlines()
