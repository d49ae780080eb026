"""
The action definitions, example workflows and pinned requirements obey the project's rules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ACTIONS, REPO, ROTATE_ACTION, TOKEN_ACTION
from .harness import load_action

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / "examples" / "workflows").glob("*.yml"))
CI_WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION_DIRS = [TOKEN_ACTION, ROTATE_ACTION]
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_ALLOWED_ENV = re.compile(r"(SPATIAFI_[A-Z0-9_]+|GH_TOKEN|PYTHONUTF8)")
# A third-party action at a full commit SHA, and the release it is, in a comment after it.
_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
_VERSION_COMMENT = re.compile(r"# v\d+\.\d+\.\d+$")
# Examples name this project's own actions with placeholders a user must replace.
_OWN_PLACEHOLDER = re.compile(r"OWNER/spatiafi-ops/actions/(token|rotate)@<full-commit-sha>")


def _steps(action_dir: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load_action(action_dir)["runs"]["steps"]
    return steps


def _run_steps(action_dir: Path) -> list[dict[str, Any]]:
    return [step for step in _steps(action_dir) if "run" in step]


def _uses_lines(path: Path) -> list[tuple[str, str]]:
    """
    Return every ``uses:`` of a workflow or action file with the rest of its line.

    Read from the YAML (so no ``uses:`` is missed) and matched to its line for the comment.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for job in (data.get("jobs") or {}).values():
        found += [job["uses"]] if "uses" in job else []
        found += [step["uses"] for step in job.get("steps") or [] if "uses" in step]
    found += [
        step["uses"] for step in (data.get("runs") or {}).get("steps") or [] if "uses" in step
    ]
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = []
    for ref in found:
        (line,) = [line for line in lines if re.search(rf"uses:\s*{re.escape(ref)}(\s|$)", line)][
            :1
        ]
        pairs.append((ref, line.split(ref, 1)[1].strip()))
    return pairs


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_inputs_reach_scripts_only_through_env(action_dir: Path) -> None:
    """
    No ${{ }} inside run:, every step is bash, and step env names are SPATIAFI_* (or GH_TOKEN).

    Every step that runs Python sets PYTHONUTF8: on Windows its stdio would otherwise use the
    ANSI code page, and an ::add-mask:: of a non-ASCII secret would not match the log.
    """
    for step in _run_steps(action_dir):
        assert "${{" not in step["run"], step.get("name")
        assert step["shell"] == "bash"
        for name in step.get("env") or {}:
            assert _ALLOWED_ENV.fullmatch(name), f"{name} in step {step.get('name')!r}"
        if re.search(r"SPATIAFI_OPS|PYTHON", step["run"]):
            assert step["env"]["PYTHONUTF8"] == "1", step.get("name")


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_later_steps_run_the_installed_paths_without_setting_up_again(action_dir: Path) -> None:
    """
    One install step per action; every later step runs the paths it wrote to its outputs.
    """
    steps = _steps(action_dir)
    (python,) = [step for step in steps if "uses" in step]
    assert python["with"] == {"python-version": "3.13", "update-environment": False}
    assert [step.get("id") for step in steps[:2]] == ["python", "install"]
    assert "setup.py" in steps[1]["run"]
    for step in steps[2:]:
        assert "setup" not in step["run"], step["name"]
        for name, value in (step.get("env") or {}).items():
            if name in ("SPATIAFI_OPS", "SPATIAFI_ACTION_PYTHON_EXE"):
                assert value in (
                    "${{ steps.install.outputs.cli }}",
                    "${{ steps.install.outputs.python }}",
                )


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_no_input_installs_from_a_package_index(action_dir: Path) -> None:
    """
    The version input is gone: the action installs its own checkout, pinned by the action's SHA.
    """
    assert "version" not in load_action(action_dir)["inputs"]


@pytest.mark.parametrize(
    "path",
    [*CI_WORKFLOWS, *WORKFLOWS, *(d / "action.yml" for d in ACTION_DIRS)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_action_is_pinned_by_a_full_commit_sha(path: Path) -> None:
    """
    Every uses: outside this repository names a 40-hex commit SHA with a "# vX.Y.Z" comment.

    In-repository uses ($/ or ./) need no pin; the examples name this project's own actions
    with the placeholders OWNER and <full-commit-sha>, never a realistic-looking SHA.
    """
    for ref, comment in _uses_lines(path):
        if ref.startswith(("./", "$/")):
            assert path in CI_WORKFLOWS, (
                f"{ref}: only this repository's workflows use local actions"
            )
            continue
        if path in WORKFLOWS and ref.startswith("OWNER/"):
            assert _OWN_PLACEHOLDER.fullmatch(ref), ref
            assert comment == "# vX.Y.Z", ref
            continue
        assert _PINNED.fullmatch(ref), ref
        assert _VERSION_COMMENT.fullmatch(comment), f"{ref} {comment!r}"


def test_the_pins_agree_across_files() -> None:
    """
    One SHA per third-party action everywhere, so an update cannot leave an old copy behind.
    """
    seen: dict[str, set[str]] = {}
    for path in [*CI_WORKFLOWS, *WORKFLOWS, *(d / "action.yml" for d in ACTION_DIRS)]:
        for ref, comment in _uses_lines(path):
            if _PINNED.fullmatch(ref):
                action, sha = ref.split("@")
                seen.setdefault(action, set()).add(f"{sha} {comment}")
    assert seen
    assert {action: pins for action, pins in seen.items() if len(pins) > 1} == {}


def test_one_dependabot_update_moves_every_copy_of_a_pin() -> None:
    """
    Every file with a pinned uses: is in the one github-actions update, grouped into one pull
    request, so a bump cannot leave a copy behind for the test above to find; the actions'
    Python pins and the dev pins are watched too.
    """
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    by_ecosystem = {update["package-ecosystem"]: update for update in config["updates"]}
    actions = by_ecosystem["github-actions"]
    assert actions["groups"] == {"actions": {"patterns": ["*"]}}
    pinned = {
        path.parent
        for path in [*CI_WORKFLOWS, *WORKFLOWS, *(d / "action.yml" for d in ACTION_DIRS)]
        if any(_PINNED.fullmatch(ref) for ref, _ in _uses_lines(path))
    }
    # "/" stands for .github/workflows (and an action.yml at the root).
    watched = {
        REPO / ".github" / "workflows" if d == "/" else REPO / d.lstrip("/")
        for d in actions["directories"]
    }
    assert pinned <= watched, sorted(str(path) for path in pinned - watched)
    pip = by_ecosystem["pip"]
    assert {"/", "/actions"} <= set(pip["directories"])
    assert len(pip["groups"]) == 1


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_every_input_is_used_and_maps_to_the_cli_variable(action_dir: Path) -> None:
    """
    Each declared input is read by some step, under the CLI's own variable where it has one.
    """
    definition = load_action(action_dir)
    used: dict[str, set[str]] = {}
    for step in _run_steps(action_dir):
        for name, value in (step.get("env") or {}).items():
            for expression in _EXPRESSION.findall(str(value)):
                for match in re.findall(r"inputs\.([a-z0-9-]+)", expression):
                    used.setdefault(match, set()).add(name)
    assert set(used) == set(definition["inputs"])
    cli_names = {
        "client-id": "SPATIAFI_CLIENT_ID",
        "client-secret": "SPATIAFI_CLIENT_SECRET",
        "auth-url": "SPATIAFI_AUTH_URL",
        "min-ttl": "SPATIAFI_MIN_TTL",
        "username": "SPATIAFI_USERNAME",
        "password": "SPATIAFI_PASSWORD",
        "github-token": "GH_TOKEN",
        "credentials-from": "SPATIAFI_CREDENTIALS_FROM",
        "publish": "SPATIAFI_PUBLISH",
    }
    for input_name, env_names in used.items():
        expected = cli_names.get(input_name)
        if expected is not None:
            assert expected in env_names, input_name
        else:
            assert all(name.startswith("SPATIAFI_ACTION_") for name in env_names), input_name


def test_token_action_declares_the_specified_interface() -> None:
    """
    actions/README.md: inputs client-id, client-secret, auth-url, min-ttl, export-env
    (false); outputs.
    """
    definition = load_action(TOKEN_ACTION)
    assert {"client-id", "client-secret", "auth-url", "min-ttl", "export-env"} <= set(
        definition["inputs"]
    )
    assert definition["inputs"]["export-env"]["default"] == "false"
    assert {"access-token", "expires-at", "token-type"} <= set(definition["outputs"])


def test_the_rotate_step_is_one_command() -> None:
    """
    Glue only: the step maps inputs to env and runs one command; the checks, the sinks and
    the throwaway profile live in spatiafi_ops.rotation._github_action, unit-tested there.
    """
    (step,) = [step for step in _run_steps(ROTATE_ACTION) if step.get("id") == "rotate"]
    assert step["run"].strip() == '"$SPATIAFI_OPS" github-action rotate'


@pytest.mark.slow
@pytest.mark.posix("actions/lint.sh is a bash script")
def test_schemas_and_zizmor_pass_offline() -> None:
    """
    actions/lint.sh: vendored JSON schemas and zizmor --offline (pedantic) report nothing.
    """
    for tool in ("check-jsonschema", "zizmor"):
        if not (BIN / tool).exists():
            pytest.skip(f"{tool} is not installed in {BIN} (lint extra)")
    completed = subprocess.run(
        ["bash", str(ACTIONS / "lint.sh"), str(BIN)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _workflow_run_steps(workflow: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    return [
        step for job in data["jobs"].values() for step in job.get("steps") or [] if "run" in step
    ]


@pytest.mark.parametrize("workflow", CI_WORKFLOWS, ids=lambda p: p.name)
def test_workflow_scripts_take_values_only_through_env(workflow: Path) -> None:
    """
    No ${{ }} inside the project's own run: scripts either, and every job runs bash.
    """
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    assert data["defaults"]["run"]["shell"] == "bash"
    steps = _workflow_run_steps(workflow)
    assert steps
    for step in steps:
        assert "${{" not in step["run"], step.get("name", step["run"])


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize(
    "path",
    [*(d / "action.yml" for d in ACTION_DIRS), *CI_WORKFLOWS],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_run_scripts_pass_shellcheck(path: Path, tmp_path: Path) -> None:
    """
    Each run: script is clean bash, with nothing sourced from elsewhere.
    """
    steps = _run_steps(path.parent) if path.name == "action.yml" else _workflow_run_steps(path)
    for index, step in enumerate(steps):
        script = tmp_path / f"{path.stem}-{index}.sh"
        script.write_text("# shellcheck shell=bash\n" + step["run"], encoding="utf-8")
        completed = subprocess.run(
            ["shellcheck", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout


@pytest.mark.parametrize("workflow", [*CI_WORKFLOWS, *WORKFLOWS], ids=lambda p: p.name)
def test_workflows_grant_nothing_by_default(workflow: Path) -> None:
    """
    permissions: {} at the top, so each job asks for exactly what it needs.
    """
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    assert data["permissions"] == {}
    for name, job in data["jobs"].items():
        assert "permissions" in job, name


def test_rotation_example_never_overlaps() -> None:
    """
    The nightly rotation queues a second run instead of running it alongside the first.
    """
    data = yaml.safe_load((REPO / "examples/workflows/nightly-rotation.yml").read_text("utf-8"))
    assert data["concurrency"]["cancel-in-progress"] is False
    assert data["concurrency"]["group"]


def test_requirements_are_hash_pinned_and_cover_the_dependencies() -> None:
    """
    actions/requirements.txt pins every runtime dependency and the build backend, with hashes.
    """
    text = (ACTIONS / "requirements.txt").read_text(encoding="utf-8")
    requirements = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)
    names = {name.lower().replace("_", "-") for name, _ in requirements}
    blocks = re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2])
    for block in blocks:
        if "==" in block:
            assert "--hash=sha256:" in block, block.splitlines()[0]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dependency in [*project["dependencies"], "hatchling"]:
        name = re.split(r"[<>=!~;\[ ]", dependency, maxsplit=1)[0].lower()
        assert name in names, f"{name} is missing from actions/requirements.txt"
