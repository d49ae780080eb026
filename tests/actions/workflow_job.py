"""
Run one job of a workflow file the way the runner does, for the jobs whose steps this machine
can run: ``run:`` steps (bash, ``-eo pipefail``, the file commands, masks), ``uses: $/...``
actions of this repository (through the composite-action harness, harness.py), and
stand-ins for the pinned third-party actions.

Stand-ins (a real one would download or clone): ``actions/checkout`` (the workspace is this
checkout, at the running commit), ``actions/setup-python`` (puts an interpreter on PATH: the
one running the tests, which has this checkout installed, so its ``pip install .`` of the
checkout has nothing to do). ``$/`` references resolve to the checkout (GitHub, 2026-07-30:
an action of the same repository at the running commit). Processes a step leaves running are
killed when the job ends, as the runner does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import record_output

from .expressions import condition, interpolate
from .harness import BASH, FILE_COMMANDS, Job, _scalar
from .workflow_commands import FileCommandError, HarnessError, Log, parse_file_command

REPO = Path(__file__).resolve().parents[2]

_PYTHON_SHIM = """#!/bin/sh
# actions/setup-python stand-in: the interpreter running the tests (this checkout installed).
if [ "$1 $2 $3" = "-m pip install" ]; then
  for target; do :; done
  [ "$(cd "$target" 2>/dev/null && pwd -P)" = "{repo}" ] ||
    {{ echo "setup-python stand-in: only the checkout can be installed" >&2; exit 1; }}
  echo "spatiafi-ops from {repo} is installed in {python}"
  exit 0
fi
exec "{python}" "$@"
"""


@dataclass
class JobStep:
    id: str
    name: str
    outcome: str
    conclusion: str
    outputs: dict[str, str]
    log: list[str]


@dataclass
class WorkflowJob:
    """
    One job of *workflow* (a path), for one combination of its matrix.
    """

    workflow: Path
    job_id: str
    matrix: dict[str, str]
    root: Path
    env: dict[str, str]
    steps: list[JobStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.definition = yaml.safe_load(self.workflow.read_text(encoding="utf-8"))
        self.spec = self.definition["jobs"][self.job_id]
        self.harness = Job(root=self.root / "job", env=dict(self.env))
        self.contexts: dict[str, Any] = {
            "github": {
                "workspace": str(REPO),
                "repository": self.harness.repository,
                "ref": "refs/heads/main",
                "token": "",
            },
            "runner": {"temp": str(self.harness.runner_temp), "os": "Linux", "arch": "X64"},
            "matrix": self.matrix,
            "secrets": {},
            "steps": {},
            "env": {},
        }
        workflow_env = {
            str(k): interpolate(_scalar(v), self.contexts)
            for k, v in (self.definition.get("env") or {}).items()
        }
        self.harness.env.update(workflow_env)
        self.contexts["env"] = dict(self.harness.env)
        self.failed = False
        self._sessions: list[int] = []

    @property
    def log(self) -> Log:
        return self.harness.log

    def status(self, name: str) -> bool:
        return {"success": not self.failed, "failure": self.failed, "always": True}.get(name, False)

    def run(self) -> bool:
        """
        Run every step; return whether the job succeeded.
        """
        try:
            for index, step in enumerate(self.spec["steps"]):
                self._step(index, step)
        finally:
            for session in self._sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(session, signal.SIGTERM)
        return not self.failed

    def _step(self, index: int, step: dict[str, Any]) -> None:
        step_id = str(step.get("id", f"__{index}"))
        name = interpolate(str(step.get("name", step.get("uses", step_id))), self.contexts)
        if not condition(step.get("if"), self.contexts, self.status):
            self._record(JobStep(step_id, name, "skipped", "skipped", {}, []))
            return
        step_env = {
            str(k): interpolate(_scalar(v), self.contexts)
            for k, v in (step.get("env") or {}).items()
        }
        if "uses" in step:
            outcome, outputs, lines = self._uses(str(step["uses"]), step, step_env)
        else:
            outcome, outputs, lines = self._run(str(step["run"]), step_env)
        keep_going = bool(step.get("continue-on-error", False))
        conclusion = "success" if outcome == "failure" and keep_going else outcome
        self.failed = self.failed or conclusion == "failure"
        self._record(JobStep(step_id, name, outcome, conclusion, outputs, lines))

    def _record(self, result: JobStep) -> None:
        self.steps.append(result)
        self.contexts["steps"][result.id] = {
            "outputs": result.outputs,
            "outcome": result.outcome,
            "conclusion": result.conclusion,
        }

    def _uses(
        self, uses: str, step: dict[str, Any], step_env: dict[str, str]
    ) -> tuple[str, dict[str, str], list[str]]:
        inputs = {
            str(k): interpolate(_scalar(v), self.contexts)
            for k, v in (step.get("with") or {}).items()
        }
        if uses.startswith("$/"):
            result = self.harness.run(REPO / uses.removeprefix("$/"), inputs, env=step_env)
            lines = [line for s in result.steps for line in s.log.lines]
            return ("success" if result.success else "failure"), result.outputs, lines
        action = uses.partition("@")[0]
        if action == "actions/checkout":
            return "success", {}, []
        if action == "actions/setup-python":
            shims = self.root / "setup-python" / "bin"
            shims.mkdir(parents=True, exist_ok=True)
            python = Path(sys.executable)
            text = _PYTHON_SHIM.format(repo=REPO.resolve(), python=python)
            for alias in ("python", "python3"):
                (shims / alias).write_text(text, encoding="utf-8")
                (shims / alias).chmod(0o755)
            (shims / "spatiafi-ops").unlink(missing_ok=True)
            (shims / "spatiafi-ops").symlink_to(python.parent / "spatiafi-ops")
            self.harness.path_entries.append(str(shims))
            return "success", {"python-path": str(python)}, []
        raise HarnessError(f"no stand-in for {uses}")

    def _run(self, script: str, step_env: dict[str, str]) -> tuple[str, dict[str, str], list[str]]:
        if "${{" in script:
            raise HarnessError("an expression inside run: (script injection)")
        files = {
            kind: self.harness.file_commands / f"{kind.lower()}_{uuid.uuid4()}"
            for kind in FILE_COMMANDS
        }
        for path in files.values():
            path.write_bytes(b"")
        env = {**self.harness.env, **self.harness.exported_env, **step_env}
        env["PATH"] = os.pathsep.join([*reversed(self.harness.path_entries), env["PATH"]])
        env |= {kind: str(path) for kind, path in files.items()}
        env |= {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(REPO),
            "GITHUB_REPOSITORY": self.harness.repository,
            "RUNNER_TEMP": str(self.harness.runner_temp),
            "RUNNER_OS": "Linux",
        }
        script_path = self.harness.runner_temp / f"{uuid.uuid4()}.sh"
        script_path.write_text(script, encoding="utf-8")
        process = subprocess.Popen(
            [*BASH, str(script_path)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the job's end kills what the step left running
        )
        self._sessions.append(process.pid)
        raw, _ = process.communicate(timeout=self.harness.timeout)
        text = raw.decode("utf-8", "replace")
        step_log = Log(masks=self.log.masks)
        step_log.feed(text)
        self.log.lines.extend(step_log.lines)
        self.log.annotations.extend(step_log.annotations)
        record_output("\n".join(step_log.lines))
        try:
            outputs = {
                pair.name: pair.value
                for pair in parse_file_command(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
            }
            for pair in parse_file_command(files["GITHUB_ENV"].read_text(encoding="utf-8")):
                self.harness.exported_env[pair.name] = pair.value
        except FileCommandError:
            return "failure", {}, step_log.lines
        outcome = "success" if process.returncode == 0 else "failure"
        return outcome, outputs, step_log.lines


def selftest_job(root: Path, env: Mapping[str, str]) -> WorkflowJob:
    """
    Return the ubuntu job of .github/workflows/selftest.yml, ready to run.
    """
    return WorkflowJob(
        REPO / ".github" / "workflows" / "selftest.yml",
        "selftest",
        {"os": "ubuntu-latest"},
        root,
        dict(env),
    )
