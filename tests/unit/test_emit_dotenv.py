"""
The dotenv format: quoted so that python-dotenv (parser.py), bash and dash read each value
back byte for byte.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatiafi_ops._errors import UnsafeValue
from spatiafi_ops._models import Variable
from spatiafi_ops.emit import render_dotenv

FRAGMENTS = [
    *"'\"$`\\#{}:-=%!~ \t\n\r\0é€😀<>|;&()*?[]^,./",
    "${",
    "${X}",
    "${A:-b}",
    ":-",
    "\\\\",
    "$ ",
    "$5",
    "$HOME",
    "\r\n",
]
VALUES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec="utf-8")),
    max_size=16,
).map("".join)

# python-dotenv parser.py, restated as a test oracle: what no quoting can carry.
INTERP = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")
SHELL_ACTIVE_DOLLAR = re.compile(r"\$[^ %&')+,./:;<=>\]^|}~\n]")


def must_refuse(value: str) -> bool:
    """
    Return whether python-dotenv parser.py says *value* has no encoding both readers agree on.
    """
    if "\0" in value or "\r" in value or INTERP.search(value):
        return True
    if "'" not in value and "\\\\" not in value and not value.endswith("\\"):
        return False  # single quotes carry it
    return value.endswith("\\") or "`" in value or bool(SHELL_ACTIVE_DOLLAR.search(value))


def sh_values(shell: str, directory: Path) -> dict[str, bytes]:
    """
    Return the environment after ``set -a; . ./f`` in a clean *shell*.
    """
    done = subprocess.run(
        [
            "/usr/bin/env",
            "-i",
            shutil.which(shell) or shell,
            "-c",
            "set -a; . ./f; exec /usr/bin/env -0",
        ],
        cwd=directory,
        capture_output=True,
        check=True,
    )
    assert done.stderr == b""
    out: dict[str, bytes] = {}
    for entry in done.stdout.split(b"\0")[:-1]:
        name, _, value = entry.partition(b"=")
        out[name.decode()] = value
    return out


# python-dotenv parser.py "Tricky values": value → exact line (None: refused).
TABLE = [
    ("p@ss w0rd", "A='p@ss w0rd'\n"),
    ("  lead and trail  ", "A='  lead and trail  '\n"),
    ("a#b # c", "A='a#b # c'\n"),
    ('say "hi"', "A='say \"hi\"'\n"),
    ("$HOME/x", "A='$HOME/x'\n"),
    ("$(id)", "A='$(id)'\n"),
    ("`id`", "A='`id`'\n"),
    ("cost: $5", "A='cost: $5'\n"),
    ("${a:b}", "A='${a:b}'\n"),
    ("a\\nb", "A='a\\nb'\n"),
    ("x=y", "A='x=y'\n"),
    ("€😀", "A='€😀'\n"),
    ("", "A=''\n"),
    ("l1\nl2\n", "A='l1\nl2\n'\n"),
    ("tab\there", "A='tab\there'\n"),
    ("it's", 'A="it\'s"\n'),
    ("a\\\\b", 'A="a\\\\\\\\b"\n'),
    ("a'b\"c\\d", 'A="a\'b\\"c\\\\d"\n'),
    ("it's 5$", 'A="it\'s 5$"\n'),
    ("it's $ 5", 'A="it\'s $ 5"\n'),
    ("${HOME}", None),
    ("pre${X:-d}post", None),
    ("ends\\", None),
    ("cr\rlf", None),
    ("it's $HOME", None),
    ("it's $5", None),
    ("it's `id`", None),
    ("a\0b", None),
    ("${}", None),
]


@pytest.mark.parametrize(("value", "line"), TABLE)
def test_dotenv_encodes_the_reference_table(value: str, line: str | None) -> None:
    """
    Each tricky value of python-dotenv parser.py gets exactly the documented line, or is refused.
    """
    variables = [Variable("A", value, secret=True)]
    if line is None:
        with pytest.raises(UnsafeValue) as caught:
            render_dotenv(variables)
        assert caught.value.name == "A"
        assert "cannot write A in the dotenv format" in str(caught.value)
    else:
        assert render_dotenv(variables) == line


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "", "PATH", "SHELLOPTS", "BASH_ENV"])
def test_dotenv_refuses_bad_or_shell_owned_names(name: str) -> None:
    """
    Names sh cannot assign, or whose assignment changes or aborts the shell, are refused.
    """
    with pytest.raises(UnsafeValue):
        render_dotenv([Variable(name, "x", secret=False)])


def test_dotenv_refusal_names_the_variable_not_the_value() -> None:
    """
    The message names the variable and never shows the secret.
    """
    with pytest.raises(UnsafeValue) as caught:
        render_dotenv([Variable("SPATIAFI_CLIENT_SECRET", "s3cret-${PART}", secret=True)])
    assert caught.value.name == "SPATIAFI_CLIENT_SECRET"
    assert "SPATIAFI_CLIENT_SECRET" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.posix("sources the file in bash and dash")
@pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("dash") and Path("/usr/bin/env").exists()),
    reason="needs bash, dash and /usr/bin/env (POSIX)",
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(VALUES, min_size=1, max_size=8))
def test_dotenv_round_trips_through_python_dotenv_bash_and_dash(
    values: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """
    Accepted values read back byte-identical everywhere; the others are refused, named.
    """
    carried = []
    for value in values:
        one = [Variable("V", value, secret=True)]
        if must_refuse(value):
            with pytest.raises(UnsafeValue) as caught:
                render_dotenv(one)
            assert caught.value.name == "V"
        else:
            render_dotenv(one)
            carried.append(value)
    # Several entries per file catch a quote that overruns into the next entry.
    variables = [Variable(f"V{index}", value, secret=True) for index, value in enumerate(carried)]
    directory = tmp_path_factory.mktemp("dotenv")
    path = directory / "f"
    path.write_bytes(render_dotenv(variables).encode())
    expected = {variable.name: variable.value for variable in variables}

    for interpolate in (True, False):
        # open() in text mode, as python-dotenv does: universal newlines, UTF-8.
        assert dotenv_values(path, interpolate=interpolate, encoding="utf-8") == expected
    for shell in ("bash", "dash"):
        env = sh_values(shell, directory)
        assert {name: env.get(name) for name in expected} == {
            name: value.encode() for name, value in expected.items()
        }
