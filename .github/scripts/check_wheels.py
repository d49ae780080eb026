"""
Check that a hash-pinned requirements file installs from wheels on every hosted runner.

    python .github/scripts/check_wheels.py actions/requirements.txt
    python .github/scripts/check_wheels.py --audit actions/requirements.txt

For each runner platform (Linux x86_64 and arm64, macOS x86_64 and arm64, Windows x64 and
arm64) and each Python it runs (3.10 to 3.14; from 3.11 on Windows on ARM), it keeps the
requirements whose environment markers hold there and runs ``pip download --only-binary
:all: --require-hashes --no-deps`` for that platform's wheel tags: what the actions' install
step does, minus the install. pip evaluates markers for the interpreter running it, not the
target, hence the filtering here. Needs the package index and ``packaging`` (pinned in the
same requirements file). ``--audit`` runs pip-audit over the same per-target sets instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# Oldest glibc a wheel may need on the Ubuntu runners (24.04 has 2.39).
GLIBC_MINORS = range(39, 16, -1)


@dataclass(frozen=True)
class Platform:
    """
    A hosted runner platform: its marker values and the wheel tags it accepts.
    """

    name: str
    system: str
    machine: str
    tags: tuple[str, ...]
    oldest_python: str = PYTHONS[0]


def _manylinux(arch: str) -> tuple[str, ...]:
    return (*(f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS), f"manylinux2014_{arch}")


# pip widens a macosx tag to older macOS versions and universal2 wheels itself.
PLATFORMS = (
    Platform("linux-x86_64", "Linux", "x86_64", _manylinux("x86_64")),
    Platform("linux-arm64", "Linux", "aarch64", _manylinux("aarch64")),
    Platform("macos-x86_64", "Darwin", "x86_64", ("macosx_15_0_x86_64",)),
    Platform("macos-arm64", "Darwin", "arm64", ("macosx_15_0_arm64",)),
    Platform("windows-x64", "Windows", "AMD64", ("win_amd64",)),
    # CPython for Windows on ARM starts at 3.11 (python.org's installers, actions/setup-python),
    # and no cffi release has a cp310 win_arm64 wheel.
    Platform("windows-arm64", "Windows", "ARM64", ("win_arm64",), oldest_python="3.11"),
)


def _version(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in python.split("."))


def marker_environment(platform: Platform, python: str) -> dict[str, str]:
    """
    Return PEP 508 marker values of CPython *python* on *platform*.
    """
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "nt" if platform.system == "Windows" else "posix",
        "platform_machine": platform.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": platform.system,
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}[platform.system],
    }


def requirements_for(text: str, environment: dict[str, str]) -> str:
    """
    Return the requirement blocks of *text* whose markers hold in *environment*, unmarked.
    """
    kept = []
    for block in re.split(r"\n(?=[A-Za-z])", text):
        head, _, rest = block.partition("\\\n")
        if "==" not in head:
            continue
        requirement, _, marker = head.partition(";")
        if marker.strip() and not Marker(marker.strip().rstrip("\\").strip()).evaluate(environment):
            continue
        kept.append(f"{requirement.strip()} \\\n{rest}")
    return "\n".join(kept) + "\n"


def check(requirements: Path, platform: Platform, python: str, workdir: Path) -> str:
    """
    Download every wheel *platform* and *python* need; return pip's error, or "" when none.
    """
    name = f"{platform.name}-py{python}"
    filtered = workdir / f"{name}.txt"
    filtered.write_text(
        requirements_for(
            requirements.read_text(encoding="utf-8"), marker_environment(platform, python)
        ),
        encoding="utf-8",
    )
    command = [
        sys.executable,
        *("-m", "pip", "download", "--quiet", "--disable-pip-version-check"),
        *("--no-deps", "--require-hashes", "--only-binary", ":all:"),
        *("--implementation", "cp", "--python-version", python),
        *(option for tag in platform.tags for option in ("--platform", tag)),
        *("--dest", str(workdir / name), "--requirement", str(filtered)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode == 0:
        return ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    return errors[-1] if errors else done.stderr.strip()


def targets() -> list[tuple[Platform, str]]:
    """
    Return every (runner platform, Python) pair that exists, in the order they are checked.
    """
    return [
        (platform, python)
        for python in PYTHONS
        for platform in PLATFORMS
        if _version(python) >= _version(platform.oldest_python)
    ]


def audit(requirements: Path, workdir: Path) -> int:
    """
    Run pip-audit over each distinct set of pins a target installs; return its worst status.

    pip-audit evaluates markers for the Python running it and refuses two pins of one name,
    so each target's set is audited on its own: every pin of the file is audited somewhere.
    """
    text = requirements.read_text(encoding="utf-8")
    sets: dict[str, str] = {}
    for platform, python in targets():
        filtered = requirements_for(text, marker_environment(platform, python))
        sets.setdefault(filtered, f"{platform.name}-py{python}")
    worst = 0
    for filtered, name in sets.items():
        path = workdir / f"{name}.txt"
        path.write_text(filtered, encoding="utf-8")
        print(f"auditing the pins of {name} and the targets that share them", flush=True)
        command = [sys.executable, "-m", "pip_audit", "--strict", "--require-hashes"]
        command += ["--disable-pip", "--progress-spinner", "off", "--requirement", str(path)]
        worst = max(worst, subprocess.run(command, check=False).returncode)  # noqa: S603
    return worst


def main(argv: list[str]) -> int:
    """
    Check every platform and Python; print one line each; 1 when any lacks a wheel.

    With ``--audit``: run pip-audit (installed separately) over every target's pins instead.
    """
    auditing = argv[:1] == ["--audit"]
    argv = argv[1:] if auditing else argv
    if len(argv) != 1:
        print("usage: check_wheels.py [--audit] REQUIREMENTS", file=sys.stderr)
        return 2
    requirements = Path(argv[0])
    failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        if auditing:
            return audit(requirements, Path(workdir))
        for platform, python in targets():
            error = check(requirements, platform, python, Path(workdir))
            failures += bool(error)
            print(f"{'FAIL' if error else 'ok  '} {platform.name:13} Python {python} {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
