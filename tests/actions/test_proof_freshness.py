"""
A release refuses a PROOF.md measured on other code: the commit line the proof writes
(proof/_provenance.py) read back by the release's check (.github/scripts/check_proof.py),
both run for real against a git repository in a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proof._provenance import commit_line

from .conftest import REPO

CHECK = REPO / ".github" / "scripts" / "check_proof.py"


@pytest.fixture(name="repo")
def _repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """
    A repository with one commit of code, and git configured for it alone.
    """
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Proof Test\n\temail = proof@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "repo"
    (repo / "spatiafi_ops").mkdir(parents=True)
    (repo / "spatiafi_ops" / "_http.py").write_text("TIMEOUT = 10\n")
    (repo / "CHANGELOG.md").write_text("# Changelog\n")
    _git(repo, "init", "--quiet")
    _commit(repo, "code")
    return repo


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", message)


def _prove(repo: Path) -> None:
    """
    Write PROOF.md as `make proof` does: the commit line taken before the run, then the file.
    """
    line = commit_line(repo, repo / "PROOF.md")
    (repo / "PROOF.md").write_text(f"# PROOF\n\n- Date: today\n{line}\n- Goals met: 1 of 1\n")


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--repo", str(repo)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_a_proof_committed_with_the_release_notes_passes(repo: Path) -> None:
    """The release commit adds PROOF.md and changes only documentation: fresh."""
    _prove(repo)
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [1.0.0] - 2026-12-07\n")
    _commit(repo, "PROOF.md and the changelog")
    checked = _check(repo)
    assert checked.returncode == 0, checked.stderr
    assert "only documentation changed" in checked.stdout


def test_a_proof_older_than_a_code_change_is_refused(repo: Path) -> None:
    """Code changed after the proof was measured: stale, and the file is named."""
    _prove(repo)
    _commit(repo, "PROOF.md")
    (repo / "spatiafi_ops" / "_http.py").write_text("TIMEOUT = 1\n")
    _commit(repo, "a code change after the proof")
    checked = _check(repo)
    assert checked.returncode == 1
    assert "spatiafi_ops/_http.py" in checked.stderr
    assert checked.stderr.count("\n") == 1, checked.stderr  # one sentence, no traceback


def test_a_proof_measured_on_uncommitted_changes_is_refused(repo: Path) -> None:
    """The measured code was not the commit it names."""
    (repo / "spatiafi_ops" / "_http.py").write_text("TIMEOUT = 1\n")
    _prove(repo)
    _git(repo, "checkout", "--", "spatiafi_ops/_http.py")
    _commit(repo, "PROOF.md")
    checked = _check(repo)
    assert checked.returncode == 1
    assert "uncommitted changes" in checked.stderr


def test_the_previous_report_does_not_make_the_tree_dirty(repo: Path) -> None:
    """A second run overwrites the report the first left: still the same, clean commit."""
    _prove(repo)
    _commit(repo, "PROOF.md")
    (repo / "PROOF.md").write_text("# PROOF\n\nedited by hand\n")
    assert commit_line(repo, repo / "PROOF.md").endswith("; tree clean")
    assert commit_line(repo, repo / "other.md").endswith("; tree dirty")


@pytest.mark.parametrize(
    "report",
    [
        "# PROOF\n\n- Date: today; commit 0d5447d\n",  # the old format, no full commit
        f"# PROOF\n\n- Commit: {'ab' * 20}; tree clean\n",  # a commit this clone lacks
    ],
)
def test_a_proof_naming_no_known_commit_is_refused(repo: Path, report: str) -> None:
    (repo / "PROOF.md").write_text(report)
    _commit(repo, "PROOF.md")
    checked = _check(repo)
    assert checked.returncode == 1
    assert "PROOF.md" in checked.stderr
