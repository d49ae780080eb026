"""
No test touches the user's home: each has its own HOME and XDG dirs, and a session that
changed the user's spatiafi config or cache dirs fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spatiafi_ops._config import default_cache_dir, default_config_dir

REPO = Path(__file__).resolve().parents[2]


def test_default_dirs_are_inside_the_test_s_own_home(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A Settings without dirs (a library user's) lands in the test's home, in children too."""
    home = Path(os.environ["HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    for directory in (default_config_dir(), default_cache_dir()):
        assert directory.is_relative_to(home), directory
    probe = "from spatiafi_ops._config import default_cache_dir; print(default_cache_dir())"
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert Path(child.stdout.strip()).is_relative_to(home)


INNER_CONFTEST = """
from tests.conftest import _clean_environment, pytest_sessionfinish, pytest_sessionstart
"""

INNER_TESTS = """
import os
from pathlib import Path
from spatiafi_ops._config import default_cache_dir

def test_writes_where_the_defaults_point():
    default_cache_dir().mkdir(parents=True)
    (default_cache_dir() / "token.json").write_text("{}")

def test_writes_into_the_user_s_cache():
    real = Path(os.environ["REAL_CACHE"])
    real.mkdir(parents=True, exist_ok=True)
    (real / "token.json").write_text("{}")
"""


def _inner_session(tmp_path: Path, selection: str) -> subprocess.CompletedProcess[str]:
    """
    Run a pytest session with this suite's isolation; its "user" is this test's home.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(INNER_CONFTEST, encoding="utf-8")
    (project / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "REAL_CACHE": str(default_cache_dir())}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", selection],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_session_whose_tests_keep_to_their_homes_passes(tmp_path: Path) -> None:
    """Writing through the default dirs stays in each test's home: the session passes."""
    inner = _inner_session(tmp_path, "defaults")
    assert inner.returncode == 0, inner.stdout + inner.stderr
    assert not default_cache_dir().exists()


def test_a_session_that_wrote_into_the_user_s_cache_fails(tmp_path: Path) -> None:
    """Every test passed, yet the session fails and names the file it changed."""
    inner = _inner_session(tmp_path, "user_s_cache")
    assert inner.returncode == 1, inner.stdout + inner.stderr
    assert "1 passed" in inner.stdout
    assert str(default_cache_dir() / "token.json") in inner.stdout
