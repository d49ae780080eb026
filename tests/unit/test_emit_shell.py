"""
The shell format: exact lines, refusals, and round trips through bash, dash and zsh.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatiafi_ops._errors import UnsafeValue
from spatiafi_ops._models import Variable
from spatiafi_ops.emit import render_shell

# Characters the formats treat specially, mixed into otherwise arbitrary text.
FRAGMENTS = [*"'\"$`\\#{}:-=%!~ \t\n\r\0é€😀<>|;&()*?[]^,./", "${", ":-", "\\\\", "'\\''", "\r\n"]
VALUES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec="utf-8")),
    max_size=16,
).map("".join)


# zsh is optional: installed on some machines only. Windows has no /usr/bin/env to run them.
SHELLS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            not shutil.which(name) or not Path("/usr/bin/env").exists(),
            reason=f"needs {name} and /usr/bin/env",
        ),
    )
    for name in ("bash", "dash", "zsh")
]


def environment_after(shell: str, script: str, cwd: Path) -> dict[str, bytes]:
    """
    Run *script* in a clean *shell*, then return the environment it exports, as bytes.
    """
    done = subprocess.run(
        [
            "/usr/bin/env",
            "-i",
            shutil.which(shell) or shell,
            "-c",
            script + "\nexec /usr/bin/env -0",
        ],
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    assert done.stderr == b""
    out: dict[str, bytes] = {}
    for entry in done.stdout.split(b"\0")[:-1]:
        name, _, value = entry.partition(b"=")
        out[name.decode()] = value
    return out


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain", "export A='plain'\n"),
        ("", "export A=''\n"),
        ("it's", "export A='it'\\''s'\n"),
        ("''", "export A=''\\'''\\'''\n"),
        ("$HOME `id` $(id) \\", "export A='$HOME `id` $(id) \\'\n"),
        ("l1\nl2\n", "export A='l1\nl2\n'\n"),
        ("€😀 # x", "export A='€😀 # x'\n"),
    ],
)
def test_shell_line_is_single_quoted(value: str, line: str) -> None:
    """
    Every value is one POSIX single-quoted word, with ' written as '\\''.
    """
    assert render_shell([Variable("A", value, secret=True)]) == line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("A", "a\0b"),
        ("1A", "x"),
        ("A-B", "x"),
        ("A B", "x"),
        ("", "x"),
        ("A\n", "x"),
        ("PATH", "x"),
        ("UID", "x"),
        ("IFS", "x"),
        ("A", "\ud800"),
    ],
)
def test_shell_refuses_what_no_shell_reads_back(name: str, value: str) -> None:
    """
    NUL, lone surrogates, invalid names and names the shell owns are refused, naming them.
    """
    with pytest.raises(UnsafeValue) as caught:
        render_shell([Variable(name, value, secret=True)])
    assert caught.value.name == name


def test_shell_refusal_never_quotes_the_value() -> None:
    """
    The error names the variable but never shows the secret.
    """
    with pytest.raises(UnsafeValue) as caught:
        render_shell([Variable("SECRET", "hunter2-very-secret\0", secret=True)])
    assert "SECRET" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_shell_refuses_duplicate_names() -> None:
    """
    A name given twice is refused rather than silently keeping the last.
    """
    with pytest.raises(UnsafeValue, match="twice"):
        render_shell([Variable("A", "1", secret=False), Variable("A", "2", secret=False)])


@pytest.mark.posix("POSIX shells run through /usr/bin/env")
@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(VALUES, min_size=1, max_size=8))
def test_shell_round_trips_through_eval_and_source(
    shell: str, values: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """
    eval "$(cat f)" and . ./f both export every accepted value byte-identical.
    """
    carried = [value for value in values if "\0" not in value]
    for value in values:
        if "\0" in value:
            with pytest.raises(UnsafeValue):
                render_shell([Variable("V", value, secret=True)])
    variables = [Variable(f"V{index}", value, secret=True) for index, value in enumerate(carried)]
    directory = tmp_path_factory.mktemp("shell")
    (directory / "f").write_bytes(render_shell(variables).encode())
    expected = {variable.name: variable.value.encode() for variable in variables}
    for script in ('eval "$(cat ./f)"', ". ./f"):
        env = environment_after(shell, script, directory)
        assert {name: env.get(name) for name in expected} == expected
