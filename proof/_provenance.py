"""
What a PROOF.md was measured on: the commit, and whether the tree had changes on top of it.

The release reads this line back (`.github/scripts/check_proof.py`, its COMMIT_LINE) and
refuses a report measured on other code; tests/actions/test_proof_freshness.py runs the
two together.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT = 10.0


def _git(root: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout if run.returncode == 0 else None


def commit_line(root: Path, output: Path) -> str:
    """
    Return the report's commit line for the checkout at *root*.

    "- Commit: <40 hex>; tree clean", or "; tree dirty" when files differ from that commit
    (untracked ones included), apart from *output*: the report an earlier run left.
    """
    commit = _git(root, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return "- Commit: unknown (not a git checkout)"
    pathspec = ["."]
    if output.resolve().is_relative_to(root.resolve()):
        pathspec.append(f":(exclude){output.resolve().relative_to(root.resolve()).as_posix()}")
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *pathspec)
    if status is None:
        return f"- Commit: {commit.strip()}; tree unknown"
    return f"- Commit: {commit.strip()}; tree {'dirty' if status.strip() else 'clean'}"
