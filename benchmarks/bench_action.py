"""
The actions' set-up (actions/setup.py) side by side with a plain venv and pip install.

    python benchmarks/bench_action.py [--runs 7] [--python PATH]

- setup.py: what the first step of actions/token and actions/rotate runs, in a fresh
  ``RUNNER_TEMP`` each time (so it builds, never reuses);
- plain: ``python -m venv`` (with ensurepip), ``pip install -r actions/requirements.txt``
  and ``pip install --no-deps --no-build-isolation`` of the checkout, pip's defaults
  otherwise (bytecode compiled) — what a composite action that installs itself usually does.

Both use the same interpreter (``--python``, default: the base interpreter of the one running
this, as actions/setup-python provides a base interpreter) and the same pip cache, warmed by
one untimed run of each first, so that neither pays for downloads. Runs are paired and
interleaved, their order alternating, so that machine noise hits both alike. pip reads this
machine's own configuration (index, proxy) for both. Prints each pair, the medians and their
ratio, and exits 1 when setup.py takes more than 0.4 x the plain install (the goal).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "actions" / "setup.py"
REQUIREMENTS = ROOT / "actions" / "requirements.txt"
GOAL = 0.4


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed:\n{done.stdout}{done.stderr}")


def setup_py(python: str, workdir: Path, env: dict[str, str]) -> None:
    """
    actions/setup.py in a fresh RUNNER_TEMP, as the action's install step runs it.
    """
    runner_temp = workdir / "runner-temp"
    runner_temp.mkdir()
    outputs = workdir / "github-output"
    outputs.touch()
    job = {**env, "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(outputs)}
    _run([python, str(SETUP)], job)


def plain(python: str, workdir: Path, env: dict[str, str]) -> None:
    """
    ``python -m venv``, then pip installs the requirements and the checkout.
    """
    venv = workdir / "venv"
    _run([python, "-m", "venv", str(venv)], env)
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    pip = [str(scripts / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "install", "-r", str(REQUIREMENTS)], env)
    _run([*pip, "install", "--no-deps", "--no-build-isolation", str(ROOT)], env)


def timed(
    step: Callable[[str, Path, dict[str, str]], None], python: str, env: dict[str, str]
) -> float:
    """
    Return the wall time of one *step* in a directory of its own, removed afterwards.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bench-action-"))
    try:
        started = time.perf_counter()
        step(python, workdir, env)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="paired runs (at least 7)")
    parser.add_argument(
        "--python",
        default=getattr(sys, "_base_executable", sys.executable),
        help="the interpreter both sides use (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs: at least 7 pairs")
    with tempfile.TemporaryDirectory(prefix="bench-action-cache-") as cache:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SPATIAFI_", "GITHUB_", "RUNNER_", "VIRTUAL_ENV"))
        }
        env |= {"PIP_CACHE_DIR": cache, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        steps = {"setup.py": setup_py, "plain": plain}
        for step in steps.values():  # warm the pip cache for both
            timed(step, args.python, env)
        times: dict[str, list[float]] = {name: [] for name in steps}
        print(f"actions' set-up with {args.python}, {args.runs} paired runs (seconds)")
        print(f"  {'run':>3}  {'setup.py':>9}  {'plain':>9}")
        for run in range(args.runs):
            order = list(steps) if run % 2 == 0 else list(reversed(steps))
            for name in order:
                times[name].append(timed(steps[name], args.python, env))
            print(f"  {run + 1:>3}  {times['setup.py'][-1]:9.2f}  {times['plain'][-1]:9.2f}")
    ours, theirs = statistics.median(times["setup.py"]), statistics.median(times["plain"])
    ratio = ours / theirs
    print(f"  med  {ours:9.2f}  {theirs:9.2f}")
    verdict = "ok" if ratio <= GOAL else "MISSED"
    print(f"setup.py / plain = {ratio:.2f} (goal <= {GOAL})  {verdict}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
