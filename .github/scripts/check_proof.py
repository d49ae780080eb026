"""
Refuse a PROOF.md measured on other code than the commit being released.

    python .github/scripts/check_proof.py [--repo DIR] [--proof FILE] [COMMIT]

`make proof` writes the commit it measured into PROOF.md ("- Commit: <sha>; tree clean",
proof/_provenance.py). This passes when that tree was clean and COMMIT (default HEAD)
differs from it in documentation only: Markdown files (``*.md``: the report itself,
CHANGELOG.md, README.md, docs/), which no part of the proof runs. Any other change, a report
measured on a dirty tree, or a commit this clone lacks, exits 1 with one sentence per reason
(docs/releasing.md). The release workflow runs it before building. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIT_TIMEOUT = 30.0
# The line proof/_provenance.py writes.
COMMIT_LINE = re.compile(r"^- Commit: (?P<commit>[0-9a-f]{40}); tree (?P<tree>clean|dirty)$", re.M)
DOCUMENTATION_SUFFIX = ".md"


class StaleProof(Exception):
    """
    PROOF.md does not describe the code being released.
    """


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own argv, git from PATH as in the workflow
        ["git", "-C", str(repo), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=GIT_TIMEOUT,
    )


def _git_out(repo: Path, *args: str) -> str:
    run = _git(repo, *args)
    if run.returncode != 0:
        raise StaleProof(f"git {' '.join(args)} failed: {run.stderr.strip()[:200]}")
    return run.stdout


def measured_commit(report: str) -> str:
    """
    Return the commit a report was measured on; refuse one measured on a dirty tree.
    """
    match = COMMIT_LINE.search(report)
    if match is None:
        raise StaleProof(
            "PROOF.md names no commit it was measured on; regenerate it with make proof"
        )
    if match["tree"] != "clean":
        raise StaleProof(
            f"PROOF.md was measured on {match['commit'][:12]} with uncommitted changes; "
            "regenerate it on a clean checkout"
        )
    return match["commit"]


def code_changes(repo: Path, measured: str, released: str) -> list[str]:
    """
    Return the files that differ between the two commits, documentation left out.
    """
    if _git(repo, "cat-file", "-e", f"{measured}^{{commit}}").returncode != 0:
        raise StaleProof(f"PROOF.md's commit {measured[:12]} is not in this clone's history")
    changed = _git_out(repo, "diff", "--name-only", "--no-renames", measured, released, "--")
    return [path for path in changed.splitlines() if not path.endswith(DOCUMENTATION_SUFFIX)]


def check(repo: Path, proof: Path, released: str) -> str:
    """
    Return a one-line verdict when *proof* describes *released*; raise StaleProof if not.
    """
    measured = measured_commit(proof.read_text(encoding="utf-8"))
    changes = code_changes(repo, measured, released)
    if changes:
        shown = ", ".join(changes[:5]) + (" and more" if len(changes) > 5 else "")
        raise StaleProof(
            f"PROOF.md was measured on {measured[:12]}, and {len(changes)} files other than "
            f"documentation changed since: {shown}; regenerate it with make proof"
        )
    return f"PROOF.md was measured on {measured[:12]}; only documentation changed since"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--proof", type=Path, help="default: PROOF.md in the repository")
    parser.add_argument("commit", nargs="?", default="HEAD")
    options = parser.parse_args(argv)
    try:
        released = _git_out(options.repo, "rev-parse", "--verify", f"{options.commit}^{{commit}}")
        verdict = check(options.repo, options.proof or options.repo / "PROOF.md", released.strip())
    except (StaleProof, OSError, subprocess.SubprocessError) as error:
        print(f"check_proof: {error}", file=sys.stderr)
        return 1
    print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
