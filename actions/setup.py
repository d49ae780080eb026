"""
Install spatiafi-ops for the composite actions once per job; name the CLI in step outputs.

The first step of actions/token and actions/rotate runs this file with the interpreter that
actions/setup-python set up (or ``SPATIAFI_ACTION_PYTHON``)::

    python actions/setup.py

It builds a virtual environment under ``$RUNNER_TEMP``, installs the hash-pinned
``actions/requirements.txt`` (wheels only) and then the action's own checkout with
``--no-build-isolation``, so the action's commit SHA pins every byte that runs. A second
action in the same job finds the environment by its key and reuses it. It writes the step
outputs ``cli`` (the ``spatiafi-ops`` executable) and ``python`` (the environment's
interpreter); later steps run those paths, as sigstore/gh-action-sigstore-python passes
``venv-python-path`` on.

Environment: ``RUNNER_TEMP`` and ``GITHUB_OUTPUT`` (set by the runner);
``SPATIAFI_ACTION_VENV``, optional: an existing virtual environment that already holds
spatiafi-ops, used as it is (self-hosted runner images, the test harness).

Standard library only, and written for old interpreters too, so that a Python older than
3.10 gets a clear error instead of a syntax error.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

MINIMUM_PYTHON = (3, 10)
CHECKOUT = Path(__file__).resolve().parent.parent
REQUIREMENTS = CHECKOUT / "actions" / "requirements.txt"
MARKER = ".spatiafi-ops-action"
PIP = ("-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet")

# Each annotation is fixed text: the package's escaping (spatiafi_ops.emit._quoting) is
# not installed yet, and fixed text holds no '%', CR or LF that would need it. The
# variable part (a path, a version) goes on a plain line before the annotation.
OLD_PYTHON = (
    "spatiafi-ops needs Python 3.10 or newer. Remove SPATIAFI_ACTION_PYTHON, or point it at "
    "a newer interpreter."
)
NOT_A_RUNNER = (
    "RUNNER_TEMP or GITHUB_OUTPUT is not set: the spatiafi-ops actions run only in a job."
)
NOT_A_VENV = (
    "SPATIAFI_ACTION_VENV is not a virtual environment holding spatiafi-ops; refusing to use "
    "it (path above)."
)
NO_VENV_MODULE = (
    "Could not create a virtual environment for spatiafi-ops. Install the venv module "
    "(Debian: python3-venv) or leave the interpreter to actions/setup-python."
)
INSTALL_FAILED = "Installing spatiafi-ops failed; pip's output is above."
PATH_WITH_LINE_BREAK = (
    "The spatiafi-ops executable's path has a line break; use another RUNNER_TEMP."
)

USAGE = 2  # the CLI's exit codes: 2 usage, 5 local state
LOCAL_STATE = 5


class SetupError(Exception):
    """
    A failure with its fixed annotation text, its exit code and, optionally, a detail line.
    """

    def __init__(self, annotation: str, exit_code: int, detail: str = "") -> None:
        super().__init__(annotation)
        self.annotation = annotation
        self.exit_code = exit_code
        self.detail = detail


def executables(environment: Path, *, windows: bool) -> tuple[Path, Path]:
    """
    Return the ``spatiafi-ops`` executable and the interpreter of a virtual environment.
    """
    if windows:  # venv's Windows layout (Lib/venv/__init__.py: Scripts, .exe launchers)
        scripts = environment / "Scripts"
        return scripts / "spatiafi-ops.exe", scripts / "python.exe"
    return environment / "bin" / "spatiafi-ops", environment / "bin" / "python"


def environment_key(python: str, version: tuple[int, ...]) -> tuple[str, str]:
    """
    Return the description of what an environment holds and the key naming its directory.

    One environment per (checkout, interpreter): two actions of one job share it.
    """
    spec = f"checkout {CHECKOUT} {python} {'.'.join(map(str, version))}"
    return spec, hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def _run(command: list[str]) -> None:
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - our own argv
        raise SetupError(INSTALL_FAILED, LOCAL_STATE)


def _install(environment: Path, windows: bool) -> None:
    print("::group::Installing spatiafi-ops", flush=True)
    print(f"spatiafi-ops: building {environment}", flush=True)
    shutil.rmtree(environment, ignore_errors=True)
    try:
        # Symlinks on POSIX, as `python -m venv`: a copied interpreter of actions/setup-python
        # would lose the $ORIGIN-relative path to its libpython.
        venv.EnvBuilder(with_pip=True, symlinks=not windows).create(environment)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(NO_VENV_MODULE, LOCAL_STATE, str(exc)) from None
    # --no-compile: modules compile on first import, and the CLI imports only a few.
    install = [str(executables(environment, windows=windows)[1]), *PIP, "install", "--no-compile"]
    _run(
        [
            *install,
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "-r",
            str(REQUIREMENTS),
        ]
    )
    _run([*install, "--no-deps", "--no-build-isolation", str(CHECKOUT)])
    print("::endgroup::", flush=True)


def prepare(
    environ: dict[str, str], *, python: str, version: tuple[int, ...], windows: bool
) -> tuple[Path, Path]:
    """
    Return the executable and interpreter to use, building the environment when needed.

    Raises:
        SetupError: the interpreter is too old, the job is no job, or the install failed.
    """
    if tuple(version[:2]) < MINIMUM_PYTHON:
        shown = ".".join(map(str, version))
        raise SetupError(OLD_PYTHON, USAGE, f"spatiafi-ops: {python} is Python {shown}")
    runner_temp = environ.get("RUNNER_TEMP", "")
    if not runner_temp or not environ.get("GITHUB_OUTPUT"):
        raise SetupError(NOT_A_RUNNER, LOCAL_STATE)
    prepared = environ.get("SPATIAFI_ACTION_VENV", "")
    if prepared:
        environment = Path(prepared)
        cli, interpreter = executables(environment, windows=windows)
        if not (environment / "pyvenv.cfg").is_file() or not cli.is_file():
            raise SetupError(NOT_A_VENV, LOCAL_STATE, f"SPATIAFI_ACTION_VENV={prepared}")
        print(f"spatiafi-ops: using the prepared environment {environment}")
        return cli, interpreter
    spec, key = environment_key(python, version)
    environment = Path(runner_temp) / "spatiafi-ops" / f"venv-{key}"
    marker = environment / MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == spec:
        print(f"spatiafi-ops: reusing {environment}")
    else:
        _install(environment, windows)
        marker.write_text(spec, encoding="utf-8")  # last: a broken install is never reused
    return executables(environment, windows=windows)


def write_outputs(path: str, outputs: dict[str, Path]) -> None:
    """
    Append ``name=value`` lines to the step's ``GITHUB_OUTPUT`` file.
    """
    lines = []
    for name, value in outputs.items():
        if "\n" in str(value) or "\r" in str(value):  # a line break would end the value
            raise SetupError(PATH_WITH_LINE_BREAK, LOCAL_STATE)
        lines.append(f"{name}={value}\n")
    with open(path, "a", encoding="utf-8", newline="\n") as handle:  # LF, as on every runner
        handle.writelines(lines)


def main() -> int:
    """
    Prepare the environment, write the step outputs; return the exit code.
    """
    environ = dict(os.environ)
    try:
        cli, interpreter = prepare(
            environ,
            python=sys.executable,
            version=tuple(sys.version_info[:3]),
            windows=os.name == "nt",
        )
        write_outputs(environ["GITHUB_OUTPUT"], {"cli": cli, "python": interpreter})
    except SetupError as exc:
        sys.stdout.flush()
        if exc.detail:
            print(exc.detail, file=sys.stderr)
        print(f"::error title=spatiafi-ops::{exc.annotation}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
