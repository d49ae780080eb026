"""
Run a composite action's steps the way the GitHub Actions runner does, against local services.

What it reproduces (actions/runner src/Runner.Worker: FileCommandManager.cs,
ActionCommandManager.cs):

- ``action.yml`` parsed with a YAML parser; inputs get their defaults; expressions are
  evaluated only in ``env:``, ``if:``, ``with:``, ``working-directory:`` and the action's
  ``outputs:``, never in ``run:`` (a ``${{`` there is refused: actions/README.md, script injection);
- a ``uses:`` step must name a third-party action pinned by a full commit SHA, and runs a
  stand-in from ``STAND_INS`` (the real ones download things: setup-python an interpreter);
- each ``shell: bash`` step runs as ``bash --noprofile --norc -eo pipefail {0}`` with fresh
  ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_PATH``/``GITHUB_STEP_SUMMARY``/``GITHUB_STATE``
  files; the files are read after the step exits with the runner's parser, ``GITHUB_ENV`` and
  ``GITHUB_PATH`` apply from the next step on; a failed step skips later steps unless their
  ``if:`` uses a status function;
- stdout and stderr form one log, read line by line (CR, LF or CRLF end a line); workflow
  commands are taken out of it (``::add-mask::`` registers a mask from the next line on and is
  never echoed; ``::error::`` and friends become annotations) and every other line is masked
  with the masks registered so far, so a secret printed before its mask shows up in ``log``.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import record_output, record_secret

from .expressions import condition, interpolate
from .workflow_commands import (
    LINE_BREAK,
    Annotation,
    FileCommandError,
    FilePair,
    HarnessError,
    Log,
    parse_file_command,
    parse_path_file,
)

__all__ = [
    "ActionResult",
    "Annotation",
    "FileCommandError",
    "FilePair",
    "HarnessError",
    "Job",
    "Log",
    "StandIn",
    "StepResult",
    "assert_hidden",
    "cli_error",
    "error_messages",
    "load_action",
    "parse_file_command",
]

BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
_PINNED = re.compile(r"(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})")
FILE_COMMANDS = (
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_STATE",
)


# ---------------------------------------------------------------------------------------------
# Stand-ins for the third-party actions that the composite actions nest

StandIn = Callable[[Mapping[str, str]], dict[str, str]]


def _setup_python(inputs: Mapping[str, str]) -> dict[str, str]:
    """
    actions/setup-python with ``update-environment: false``: hands over an interpreter only.

    A stand-in because the real action downloads CPython; the interpreter running the tests
    takes the place of the tool cache's, as the real one's ``python-path`` output would.
    """
    if inputs.get("update-environment") != "false":
        raise HarnessError("setup-python must not change the job's PATH (update-environment)")
    if not inputs.get("python-version"):
        raise HarnessError("setup-python needs an explicit python-version")
    return {"python-path": sys.executable, "python-version": platform.python_version()}


STAND_INS: dict[str, StandIn] = {"actions/setup-python": _setup_python}


# ---------------------------------------------------------------------------------------------
# Composite actions


@dataclass
class StepResult:
    """
    One step as the runner saw it.
    """

    id: str
    name: str
    outcome: str  # success | failure | skipped
    exit_code: int | None
    raw_output: str
    log: Log
    outputs: dict[str, str]
    output_pairs: list[FilePair]
    env_pairs: list[FilePair]
    path_entries: list[str]
    summary: str
    env: dict[str, str]


@dataclass
class ActionResult:
    """
    A whole composite action run: its steps, outputs, exported env and the job's view of them.
    """

    steps: list[StepResult]
    outputs: dict[str, str]
    exported_env: dict[str, str]
    path_entries: list[str]
    log: Log

    @property
    def success(self) -> bool:
        """
        Whether no step failed.
        """
        return all(step.outcome != "failure" for step in self.steps)

    @property
    def exit_code(self) -> int:
        """
        The exit code of the failed step (0 when none failed).
        """
        for step in self.steps:
            if step.outcome == "failure":
                return step.exit_code or 1  # 0: the step ran, its files did not parse
        return 0

    @property
    def errors(self) -> list[Annotation]:
        """
        Every ``::error::`` annotation.
        """
        return [item for item in self.log.annotations if item.level == "error"]

    @property
    def warnings(self) -> list[Annotation]:
        """
        Every ``::warning::`` annotation.
        """
        return [item for item in self.log.annotations if item.level == "warning"]

    @property
    def summary(self) -> str:
        """
        The job summary the steps appended.
        """
        return "".join(step.summary for step in self.steps)

    def step(self, step_id: str) -> StepResult:
        """
        Return the step with id *step_id*.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def raw_output(self) -> str:
        """
        Everything every step printed, unmasked (for asserting what never reaches a log).
        """
        return "\n".join(step.raw_output for step in self.steps)


@dataclass
class Job:
    """
    The job around action runs: its env, RUNNER_TEMP, workspace, masks and GITHUB_ENV so far.

    Run several actions in one ``Job`` to reproduce "the step runs twice in one job".
    """

    root: Path
    env: dict[str, str]
    repository: str = "octo-org/octo-repo"
    secrets: Iterable[str] = ()
    log: Log = field(default_factory=Log)
    exported_env: dict[str, str] = field(default_factory=dict)
    path_entries: list[str] = field(default_factory=list)
    timeout: float = 120.0
    # Every stand-in that ran: (action, its with: inputs).
    stand_in_calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runner_temp = self.root / "runner-temp"
        self.workspace = self.root / "workspace"
        self.file_commands = self.runner_temp / "_runner_file_commands"
        for directory in (self.runner_temp, self.workspace, self.file_commands):
            directory.mkdir(parents=True, exist_ok=True)
        for secret in self.secrets:
            # The runner registers every secret the workflow references before the job starts.
            self.log.add_mask(secret)

    def run(
        self,
        action_dir: Path,
        inputs: Mapping[str, str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> ActionResult:
        """
        Run the composite action in *action_dir* with *inputs*; return what the runner saw.

        *env* is the ``env:`` of the step that uses the action: the runner adds it to the
        environment (and the ``env`` context) of every step inside, over the job's.
        """
        run = _ActionRun(self, action_dir.resolve(), dict(inputs or {}), dict(env or {}))
        result = run.run()
        # What the runner would show feeds the suite-wide leak scan (tests/e2e).
        record_output(*("\n".join(step.log.lines) for step in result.steps))
        record_output(*(annotation.message for annotation in result.log.annotations))
        return result


def load_action(action_dir: Path) -> dict[str, Any]:
    """
    Parse ``action.yml`` and check that it is a composite action this harness can run.
    """
    data = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("runs", {}).get("using") != "composite":
        raise HarnessError(f"{action_dir}/action.yml is not a composite action")
    return data


class _ActionRun:
    def __init__(
        self, job: Job, action_dir: Path, inputs: dict[str, str], step_env: dict[str, str]
    ) -> None:
        self.job = job
        self.step_env = step_env
        self.action_dir = action_dir
        self.definition = load_action(action_dir)
        declared = self.definition.get("inputs") or {}
        unknown = set(inputs) - set(declared)
        if unknown:
            raise HarnessError(f"unexpected inputs {sorted(unknown)} for {action_dir.name}")
        self.github = {
            "action_path": str(action_dir),
            "repository": job.repository,
            "workspace": str(job.workspace),
            "token": "",
        }
        self.runner = {"temp": str(job.runner_temp), "os": "Linux", "arch": "X64"}
        self.steps_context: dict[str, dict[str, Any]] = {}
        self.failed = False
        base_contexts = {"github": self.github, "runner": self.runner, "env": self._env_context()}
        self.inputs: dict[str, str] = {}
        for name, spec in declared.items():
            if name in inputs:
                self.inputs[name] = str(inputs[name])
            else:
                default = (spec or {}).get("default", "")
                self.inputs[name] = interpolate(str(default), base_contexts)

    def _env_context(self) -> dict[str, str]:
        return {**self.job.env, **self.job.exported_env, **self.step_env}

    def contexts(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "steps": self.steps_context,
            "github": self.github,
            "runner": self.runner,
            "env": self._env_context(),
        }

    def status(self, name: str) -> bool:
        return {
            "success": not self.failed,
            "failure": self.failed,
            "always": True,
            "cancelled": False,
        }[name]

    def run(self) -> ActionResult:
        results = [
            self.run_step(index, step)
            for index, step in enumerate(self.definition["runs"]["steps"])
        ]
        contexts = self.contexts()
        outputs = {
            name: interpolate(str((spec or {}).get("value", "")), contexts)
            for name, spec in (self.definition.get("outputs") or {}).items()
        }
        return ActionResult(
            steps=results,
            outputs=outputs,
            exported_env=dict(self.job.exported_env),
            path_entries=list(self.job.path_entries),
            log=self.job.log,
        )

    def run_step(self, index: int, step: dict[str, Any]) -> StepResult:
        step_id = str(step.get("id", f"__{index}"))
        name = str(step.get("name", step_id))
        stand_in = _checked_stand_in(step, name) if "uses" in step else None
        script = "" if stand_in else _checked_script(step, name)
        if not condition(step.get("if"), self.contexts(), self.status):
            self.steps_context[step_id] = {"outputs": {}, "outcome": "skipped"}
            return StepResult(step_id, name, "skipped", None, "", Log(), {}, [], [], [], "", {})

        contexts = self.contexts()
        if stand_in:
            action, function = stand_in
            inputs = {
                str(key): interpolate(_scalar(value), contexts)
                for key, value in (step.get("with") or {}).items()
            }
            self.job.stand_in_calls.append((action, inputs))
            outputs = function(inputs)
            self.steps_context[step_id] = {"outputs": outputs, "outcome": "success"}
            return StepResult(step_id, name, "success", 0, "", Log(), outputs, [], [], [], "", {})
        files = {
            kind: self.job.file_commands / f"{kind.lower()}_{uuid.uuid4()}"
            for kind in FILE_COMMANDS
        }
        for path in files.values():
            path.write_bytes(b"")
        step_env = {
            str(key): interpolate(_scalar(value), contexts)
            for key, value in (step.get("env") or {}).items()
        }
        env = self._environment(step_env, files)
        workdir = Path(
            interpolate(str(step.get("working-directory", self.job.workspace)), contexts)
        )
        script_path = self.job.runner_temp / f"{uuid.uuid4()}.sh"
        script_path.write_text(script, encoding="utf-8")
        try:
            completed = subprocess.run(
                [*BASH, str(script_path)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # one log, in the order written
                timeout=self.job.timeout,
                check=False,
            )
        finally:
            script_path.unlink()
        raw = completed.stdout.decode("utf-8", "replace")
        step_log = Log(masks=self.job.log.masks)  # shares the job's mask set
        step_log.feed(raw)
        self.job.log.lines.extend(step_log.lines)
        self.job.log.annotations.extend(step_log.annotations)
        self.job.log.commands.extend(step_log.commands)

        # The runner reads the files after the process exits (ActionRunner.cs).
        processed = self._process_files(files)
        outcome = "success" if completed.returncode == 0 and processed is not None else "failure"
        output_pairs, env_pairs, path_entries = processed or ([], [], [])
        outputs = {pair.name: pair.value for pair in output_pairs}
        self.failed = self.failed or outcome == "failure"
        self.steps_context[step_id] = {"outputs": outputs, "outcome": outcome}
        return StepResult(
            id=step_id,
            name=name,
            outcome=outcome,
            exit_code=completed.returncode,
            raw_output=raw,
            log=step_log,
            outputs=outputs,
            output_pairs=output_pairs,
            env_pairs=env_pairs,
            path_entries=path_entries,
            summary=files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"),
            env=env,
        )

    def _environment(self, step_env: dict[str, str], files: dict[str, Path]) -> dict[str, str]:
        env = {**self._env_context(), **step_env}
        if self.job.path_entries:
            env["PATH"] = os.pathsep.join([*reversed(self.job.path_entries), env.get("PATH", "")])
        # Runtime variables last: a step cannot overwrite them (ScriptHandler.cs).
        env.update({key: str(path) for key, path in files.items()})
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTION_PATH": str(self.action_dir),
                "GITHUB_WORKSPACE": str(self.job.workspace),
                "GITHUB_REPOSITORY": self.job.repository,
                "RUNNER_TEMP": str(self.job.runner_temp),
                "RUNNER_OS": "Linux",
            }
        )
        return env

    def _process_files(
        self, files: dict[str, Path]
    ) -> tuple[list[FilePair], list[FilePair], list[str]] | None:
        """
        Parse the step's files and apply GITHUB_ENV/GITHUB_PATH; ``None`` when one is invalid.
        """
        try:
            output_pairs = parse_file_command(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
            env_pairs = parse_file_command(files["GITHUB_ENV"].read_text(encoding="utf-8"))
            path_entries = parse_path_file(files["GITHUB_PATH"].read_text(encoding="utf-8"))
        except FileCommandError as exc:
            self.job.log.annotations.append(
                Annotation("error", f"Unable to process file command successfully: {exc}", {})
            )
            return None
        for pair in env_pairs:
            if pair.name.upper() != "NODE_OPTIONS":  # the runner's GITHUB_ENV blocklist
                self.job.exported_env[pair.name] = pair.value
        for entry in path_entries:
            if entry in self.job.path_entries:
                self.job.path_entries.remove(entry)
            self.job.path_entries.append(entry)
        return output_pairs, env_pairs, path_entries


def _scalar(value: object) -> str:
    """
    Return a YAML scalar of ``with:``/``env:`` as the runner passes it: booleans lower-case.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _checked_stand_in(step: dict[str, Any], name: str) -> tuple[str, StandIn]:
    """
    Return the pinned action a ``uses:`` step names and the stand-in that imitates it.
    """
    match = _PINNED.fullmatch(str(step["uses"]))
    if match is None:
        raise HarnessError(f"step {name!r}: uses: must pin an action by its full commit SHA")
    action = match["action"]
    if action not in STAND_INS:
        raise HarnessError(f"step {name!r}: no stand-in for {action}")
    return action, STAND_INS[action]


def _checked_script(step: dict[str, Any], name: str) -> str:
    """
    Return the step's script after checking it is one this harness (and our rules) allow.
    """
    script = step.get("run")
    if not isinstance(script, str):
        raise HarnessError(f"step {name!r} has no run: script")
    if "${{" in script:
        raise HarnessError(f"step {name!r} has an expression inside run: (script injection)")
    if step.get("shell") != "bash":
        raise HarnessError(f"step {name!r}: composite run steps here must use shell: bash")
    return script


# ---------------------------------------------------------------------------------------------
# Assertions shared by the action tests

_DELIMITER = re.compile(
    r"ghadelimiter_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def assert_hidden(result: ActionResult, secret: str) -> None:
    """
    Check that *secret* was masked before it could be seen, and was written only safely.

    - it is registered as a mask (by ``::add-mask::`` or as a workflow secret);
    - the visible log never shows it: every mask preceded any line containing it;
    - in the raw output it appears only inside ``::add-mask::`` commands (never echoed);
    - every GITHUB_OUTPUT/GITHUB_ENV pair holding it is a heredoc with a fresh
      ``ghadelimiter_<uuid4>`` (actions/toolkit file-command.ts).
    """
    assert secret, "an empty secret cannot be checked"
    record_secret(secret)
    assert secret in result.log.masks, "the secret was never masked"
    assert secret not in result.log.text, "the secret is visible in the log"
    for annotation in result.log.annotations:
        assert secret not in annotation.message
    for line in LINE_BREAK.split(result.raw_output()):
        if secret in line:
            assert line.lstrip().startswith("::add-mask::"), "the secret was printed unmasked"
    delimiters: list[str] = []
    for step in result.steps:
        for pair in [*step.output_pairs, *step.env_pairs]:
            if secret in pair.value:
                assert pair.heredoc, f"{pair.name} holds a secret without a heredoc"
                assert pair.delimiter is not None
                assert _DELIMITER.fullmatch(pair.delimiter)
                delimiters.append(pair.delimiter)
        assert secret not in step.summary, "the secret reached the job summary"
    assert len(delimiters) == len(set(delimiters)), "a heredoc delimiter was reused"


def error_messages(result: ActionResult) -> list[str]:
    """
    Return the messages of the ``::error title=spatiafi-ops::`` annotations.
    """
    return [
        item.message for item in result.errors if item.properties.get("title") == "spatiafi-ops"
    ]


def cli_error(result: ActionResult) -> str:
    """
    Return the CLI's one-sentence error: its ``::error::`` annotation, else its ``Error:`` line.

    Under ``--log-format github`` (auto when GITHUB_ACTIONS=true) the CLI annotates the failure
    itself; a CLI without that format prints a plain ``Error: ...`` line on stderr.
    """
    if result.errors:
        return result.errors[-1].message
    lines = [line for line in result.log.lines if line.startswith("Error: ")]
    return lines[-1].removeprefix("Error: ") if lines else ""
