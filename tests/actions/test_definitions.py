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
ACTION_DIRS = [TOKEN_ACTION, ROTATE_ACTION]
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_ALLOWED_ENV = re.compile(r"(SPATIAFI_[A-Z0-9_]+|GH_TOKEN)")


def _steps(action_dir: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load_action(action_dir)["runs"]["steps"]
    return steps


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_inputs_reach_scripts_only_through_env(action_dir: Path) -> None:
    """
    No ${{ }} inside run:, every step is bash, and step env names are SPATIAFI_* (or GH_TOKEN).
    """
    for step in _steps(action_dir):
        assert "${{" not in step["run"], step.get("name")
        assert step["shell"] == "bash"
        for name in step.get("env") or {}:
            assert _ALLOWED_ENV.fullmatch(name), f"{name} in step {step.get('name')!r}"


@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_every_input_is_used_and_maps_to_the_cli_variable(action_dir: Path) -> None:
    """
    Each declared input is read by some step, under the CLI's own variable where it has one.
    """
    definition = load_action(action_dir)
    used: dict[str, set[str]] = {}
    for step in definition["runs"]["steps"]:
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
    }
    for input_name, env_names in used.items():
        expected = cli_names.get(input_name)
        if expected is not None:
            assert expected in env_names, input_name
        else:
            assert all(name.startswith("SPATIAFI_ACTION_") for name in env_names), input_name


def test_token_action_declares_the_specified_interface() -> None:
    """
    SPEC §8: inputs client-id, client-secret, auth-url, min-ttl, export-env (false); outputs.
    """
    definition = load_action(TOKEN_ACTION)
    assert {"client-id", "client-secret", "auth-url", "min-ttl", "export-env"} <= set(
        definition["inputs"]
    )
    assert definition["inputs"]["export-env"]["default"] == "false"
    assert {"access-token", "expires-at", "token-type"} <= set(definition["outputs"])


def test_cleanup_runs_even_after_a_failure() -> None:
    """
    Composite actions have no post step: the rotate action cleans up with if: always().
    """
    last = _steps(ROTATE_ACTION)[-1]
    assert "always()" in last["if"]
    assert "rm -rf" in last["run"]


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


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("action_dir", ACTION_DIRS, ids=lambda p: p.name)
def test_run_scripts_pass_shellcheck(action_dir: Path, tmp_path: Path) -> None:
    """
    Each run: script is clean bash (setup.sh's variables and functions come from `source`).
    """
    for index, step in enumerate(_steps(action_dir)):
        script = tmp_path / f"{action_dir.name}-{index}.sh"
        script.write_text("# shellcheck shell=bash\n" + step["run"], encoding="utf-8")
        completed = subprocess.run(
            ["shellcheck", "-e", "SC1091,SC2154", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_pin_actions_by_sha(workflow: Path) -> None:
    """
    Every uses: names a full 40-hex commit SHA with a version comment, and permissions are set.
    """
    text = workflow.read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
        assert re.match(r"\s+# v\d", comment), ref
    data = yaml.safe_load(text)
    assert data["permissions"] == {}


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
