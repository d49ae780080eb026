"""
Install spatiafi-ops for the composite actions once per job; name the CLI in step outputs.

The first step of actions/token and actions/rotate runs this file with the interpreter that
actions/setup-python set up (or ``SPATIAFI_ACTION_PYTHON``)::

    python actions/setup.py

It builds a virtual environment under ``$RUNNER_TEMP`` and installs, in one hash-checked pip
run without bytecode compilation, the pinned wheels of ``actions/requirements.txt`` and the
action's own checkout, zipped here as a wheel and hashed (a pure-Python package needs no build
backend), so the action's commit SHA pins every byte that runs. For speed the environment is
made without ensurepip and filled by this interpreter's own pip (``pip --python``);
benchmarks/bench_action.py measures it against a plain ``python -m venv`` and ``pip install``.
A second action in the same job finds the environment by its key and reuses it. It writes
the step outputs ``cli`` (the ``spatiafi-ops`` executable) and ``python`` (the environment's
interpreter); later steps run those paths, as sigstore/gh-action-sigstore-python passes
``venv-python-path`` on.

Environment: ``RUNNER_TEMP`` and ``GITHUB_OUTPUT`` (set by the runner);
``SPATIAFI_ACTION_VENV``, optional: an existing virtual environment that already holds
spatiafi-ops, used as it is (self-hosted runner images, the test harness).

Standard library only, and written for old interpreters too, so that a Python older than
3.10 gets a clear error instead of a syntax error.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

MINIMUM_PYTHON = (3, 10)
CHECKOUT = Path(__file__).resolve().parent.parent
REQUIREMENTS = CHECKOUT / "actions" / "requirements.txt"
MARKER = ".spatiafi-ops-action"
VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
# pyproject.toml's [project.scripts] and [project.entry-points.*], as the wheel declares them.
ENTRY_POINTS = (
    "[console_scripts]",
    "spatiafi-ops = spatiafi_ops.cli:main",
    "",
    "[pytest11]",
    "spatiafi_ops = spatiafi_ops.pytest_plugin",
)
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


def _outer_pip_works() -> bool:
    """
    Return whether this interpreter's own pip can install into another (``pip --python``).

    pip 22.3 added ``--python``; actions/setup-python's interpreters bring a newer one. An
    interpreter without pip (SPATIAFI_ACTION_PYTHON=/usr/bin/python3 on Debian) has none.
    """
    from importlib.metadata import PackageNotFoundError, version  # 3.8+, checked before

    try:
        release = version("pip").split(".")
    except PackageNotFoundError:
        return False
    try:
        return (int(release[0]), int(release[1])) >= (22, 3)
    except (IndexError, ValueError):
        return False


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def checkout_wheel(directory: Path) -> Path:
    """
    Zip the checkout's package as a wheel in *directory*; return its path.

    The package is pure Python and needs no build step, so the wheel holds what hatchling's
    does (tests/actions/test_setup.py compares the two). pip then installs it in the same
    hash-checked run as the requirements, instead of a second run that starts the build
    backend twice.
    """
    package = CHECKOUT / "spatiafi_ops"
    version = VERSION.search((package / "_version.py").read_text(encoding="utf-8"))
    if version is None:
        raise SetupError(INSTALL_FAILED, LOCAL_STATE, "spatiafi_ops/_version.py has no version")
    dist_info = f"spatiafi_ops-{version.group(1)}.dist-info"
    files = {
        path.relative_to(CHECKOUT).as_posix(): path.read_bytes()
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: spatiafi-ops\nVersion: {version.group(1)}\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: spatiafi-ops actions/setup.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = "".join(f"{line}\n" for line in ENTRY_POINTS).encode()
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{dist_info}/RECORD"] = f"{record}{dist_info}/RECORD,,\n".encode()
    wheel = directory / f"spatiafi_ops-{version.group(1)}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _install(environment: Path, windows: bool) -> None:
    print("::group::Installing spatiafi-ops", flush=True)
    print(f"spatiafi-ops: building {environment}", flush=True)
    shutil.rmtree(environment, ignore_errors=True)
    # Without ensurepip where this interpreter's pip can fill the environment from outside:
    # ensurepip (installing pip into the venv, bytecode and all) was half of the set-up time.
    outer_pip = _outer_pip_works()
    interpreter = executables(environment, windows=windows)[1]
    try:
        # Symlinks on POSIX, as `python -m venv`: a copied interpreter of actions/setup-python
        # would lose the $ORIGIN-relative path to its libpython.
        venv.EnvBuilder(with_pip=not outer_pip, symlinks=not windows).create(environment)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(NO_VENV_MODULE, LOCAL_STATE, str(exc)) from None
    if outer_pip:
        pip = [sys.executable, *PIP, "--python", str(interpreter)]
    else:
        pip = [str(interpreter), *PIP]
    build = Path(tempfile.mkdtemp(prefix="wheel-", dir=environment.parent))
    try:
        # One pip run, every file hash-checked: the pinned wheels and the checkout's own,
        # hashed here. --no-compile: modules compile on first import, and the CLI imports
        # only a few.
        wheel = checkout_wheel(build)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        requirements = build / "requirements.txt"
        requirements.write_text(
            REQUIREMENTS.read_text(encoding="utf-8")
            + f"spatiafi-ops @ {wheel.as_uri()} --hash=sha256:{digest}\n",
            encoding="utf-8",
        )
        install = [*pip, "install", "--no-compile", "--no-deps", "--require-hashes"]
        _run([*install, "--only-binary", ":all:", "-r", str(requirements)])
    finally:
        shutil.rmtree(build, ignore_errors=True)
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
