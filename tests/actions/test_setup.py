"""
actions/setup.py: checks the interpreter, builds its venv once per job, names the CLI in outputs.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from spatiafi_ops.emulator import EmulatorHandle

from .conftest import ACTIONS, POSIX_BASH, REPO, TOKEN_ACTION
from .harness import Job, assert_hidden, error_messages

SETUP = ACTIONS / "setup.py"


def _load_setup() -> ModuleType:
    spec = importlib.util.spec_from_file_location("spatiafi_action_setup", SETUP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_old_interpreter_gets_a_clear_error_not_a_syntax_error(tmp_path: Path) -> None:
    """
    Python 3.9 (Windows images' default) is named and refused with exit 2, nothing built.

    No such interpreter is on this machine: the script runs under this one with
    ``sys.version_info`` replaced, the one thing an old interpreter would change; that it
    would parse there at all is the grammar check below.
    """
    output = tmp_path / "output"
    output.write_text("", encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; sys.version_info = (3, 9, 18, 'final', 0); "
            f"runpy.run_path({str(SETUP)!r}, run_name='__main__')",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output)},
        check=False,
    )

    assert completed.returncode == 2
    detail, annotation = completed.stderr.splitlines()
    assert detail == f"spatiafi-ops: {sys.executable} is Python 3.9.18"
    assert annotation.startswith("::error title=spatiafi-ops::spatiafi-ops needs Python 3.10")
    assert output.read_text(encoding="utf-8") == ""
    assert not (tmp_path / "spatiafi-ops").exists()


def test_the_script_parses_on_interpreters_it_must_refuse() -> None:
    """
    Python 3.7 grammar, so that an old interpreter reaches the version check.
    """
    ast.parse(SETUP.read_text(encoding="utf-8"), feature_version=(3, 7))


def test_annotations_are_fixed_text_that_needs_no_escaping() -> None:
    """
    The escaping lives in spatiafi_ops.emit._quoting, not installed yet: no %, CR or LF here.
    """
    setup = _load_setup()
    messages = [
        value for name, value in vars(setup).items() if name.isupper() and isinstance(value, str)
    ]
    assert len(messages) >= 6
    for message in messages:
        assert not re.search(r"[%\r\n]", message), message


def test_a_prepared_environment_in_the_windows_layout(tmp_path: Path) -> None:
    """
    Windows venvs keep executables in Scripts\\ with .exe names; those are the outputs.
    """
    setup = _load_setup()
    environment = tmp_path / "venv"
    (environment / "Scripts").mkdir(parents=True)
    (environment / "pyvenv.cfg").write_text("home = C:\\Python313\n", encoding="utf-8")
    (environment / "Scripts" / "spatiafi-ops.exe").write_bytes(b"MZ")
    environ = {
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "SPATIAFI_ACTION_VENV": str(environment),
    }

    cli, python = setup.prepare(environ, python="python.exe", version=(3, 13, 1), windows=True)

    assert cli == environment / "Scripts" / "spatiafi-ops.exe"
    assert python == environment / "Scripts" / "python.exe"
    with pytest.raises(setup.SetupError) as raised:  # the POSIX layout is not there
        setup.prepare(environ, python="python3", version=(3, 13, 1), windows=False)
    assert raised.value.exit_code == 5


def test_outside_a_job_nothing_is_built(tmp_path: Path) -> None:
    """
    Without RUNNER_TEMP and GITHUB_OUTPUT there is no job to install into: exit 5.
    """
    setup = _load_setup()
    with pytest.raises(setup.SetupError) as raised:
        setup.prepare({}, python="python3", version=(3, 13, 1), windows=False)
    assert raised.value.exit_code == 5


@POSIX_BASH
def test_refuses_a_prepared_environment_that_is_no_venv(job: Job) -> None:
    """
    SPATIAFI_ACTION_VENV must be a virtual environment holding spatiafi-ops, never /usr.
    """
    job.env["SPATIAFI_ACTION_VENV"] = "/usr"
    result = job.run(TOKEN_ACTION, {"client-id": "x", "client-secret": "y"})

    assert result.exit_code == 5
    (message,) = error_messages(result)
    assert message.startswith("SPATIAFI_ACTION_VENV is not a virtual environment")
    assert "SPATIAFI_ACTION_VENV=/usr" in result.log.text
    assert result.step("mint").outcome == "skipped"


@pytest.mark.slow
@POSIX_BASH
def test_installs_the_checkout_into_an_isolated_venv_once_per_job(
    job: Job, spatiafi_emulator: EmulatorHandle, app_credentials: dict[str, str]
) -> None:
    """
    The real install: setup-python's interpreter, hash-pinned wheels, the checkout; reused after.

    pip reads the machine's index configuration, as on a runner.
    """
    del job.env["SPATIAFI_ACTION_VENV"], job.env["SPATIAFI_ACTION_PYTHON"]
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            job.env[name] = value
    job.env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    inputs = {
        "client-id": app_credentials["client_id"],
        "client-secret": app_credentials["client_secret"],
        "auth-url": spatiafi_emulator.url,
    }
    first = job.run(TOKEN_ACTION, inputs)
    assert first.success, first.log.text

    (venv,) = (job.runner_temp / "spatiafi-ops").glob("venv-*")
    assert first.outputs["cli"] == str(venv / "bin" / "spatiafi-ops")
    assert (venv / ".spatiafi-ops-action").read_text().startswith(f"checkout {REPO} ")
    probe = (
        "import importlib.metadata as m, spatiafi_ops; "
        "print(spatiafi_ops.__file__); print(m.version('cryptography'))"
    )
    installed, cryptography = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=job.workspace,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert installed.startswith(str(venv))  # a copy in the venv, not the checkout
    # No ensurepip: the interpreter's own pip filled the venv from outside.
    assert list(venv.glob("lib/python*/site-packages/pip")) == []
    pinned = re.search(r"^cryptography==(\S+)", (ACTIONS / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert cryptography == pinned[1]  # from the hash-pinned file, not the index's newest
    assert_hidden(first, first.outputs["access-token"])

    second = job.run(TOKEN_ACTION, inputs)
    assert second.success, second.log.text
    assert f"spatiafi-ops: reusing {venv}" in second.log.text
    assert "spatiafi-ops: building" not in "\n".join(second.step("install").log.lines)
    assert second.outputs["access-token"] == first.outputs["access-token"]


def test_the_checkout_wheel_holds_what_hatchling_builds(tmp_path: Path) -> None:
    """
    setup.py zips the package itself (no build backend at set-up): the same files, the same
    entry points, name and version as the wheel hatchling builds from pyproject.toml.
    """
    setup = _load_setup()
    ours = setup.checkout_wheel(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "h")],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (theirs,) = (tmp_path / "h").glob("*.whl")
    assert ours.name == theirs.name

    def contents(wheel: Path) -> tuple[set[str], dict[str, str]]:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            package = {name for name in names if name.startswith("spatiafi_ops/")}
            info = {
                name.split("/", 1)[1]: archive.read(name).decode()
                for name in names
                if ".dist-info/" in name
            }
        return package, info

    (our_files, our_info), (their_files, their_info) = contents(ours), contents(theirs)
    assert our_files == their_files
    assert our_info["entry_points.txt"].split() == their_info["entry_points.txt"].split()
    for field in ("Name", "Version"):
        line = re.search(rf"^{field}: .*$", their_info["METADATA"], re.MULTILINE)
        assert line is not None
        assert line[0] in our_info["METADATA"].splitlines()
    assert our_info["WHEEL"].splitlines()[2:] == ["Root-Is-Purelib: true", "Tag: py3-none-any"]
    records = our_info["RECORD"].splitlines()
    assert {line.split(",")[0] for line in records} == {
        *our_files,
        *(f"{ours.name.split('-py3')[0]}.dist-info/{name}" for name in our_info),
    }
