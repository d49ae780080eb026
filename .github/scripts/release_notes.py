"""
Check that a release tag names the package's version, and print that version's changelog.

    python .github/scripts/release_notes.py vX.Y.Z > notes.md

The release workflow runs this before building: a tag that disagrees with
``spatiafi_ops/_version.py`` (the one version source), or a version CHANGELOG.md does not
describe, stops the release. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = ROOT / "spatiafi_ops" / "_version.py"
CHANGELOG = ROOT / "CHANGELOG.md"
_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
# Keep a Changelog 1.1.0: "## [X.Y.Z] - YYYY-MM-DD".
_RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$")


class ReleaseError(Exception):
    """
    The tag, the version and the changelog do not agree.
    """


def package_version(text: str) -> str:
    """
    Return ``__version__`` from the text of ``_version.py``.
    """
    match = _VERSION.search(text)
    if match is None:
        raise ReleaseError("spatiafi_ops/_version.py has no __version__ line")
    return match[1]


def changelog_section(text: str, version: str) -> str:
    """
    Return the body of the changelog section of *version*, without its heading.
    """
    lines = text.splitlines()
    start = next(
        (
            index
            for index, line in enumerate(lines)
            if (match := _RELEASE.match(line)) and match["version"] == version
        ),
        None,
    )
    if start is None:
        raise ReleaseError(f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section")
    end = next(
        (index for index in range(start + 1, len(lines)) if lines[index].startswith("## ")),
        len(lines),
    )
    body = "\n".join(lines[start + 1 : end]).strip()
    if not body:
        raise ReleaseError(f"the CHANGELOG.md section of {version} is empty")
    return body + "\n"


def release_notes(tag: str, root: Path = ROOT) -> str:
    """
    Return the release notes of *tag*, after checking it against the version and changelog.
    """
    version = package_version((root / "spatiafi_ops" / "_version.py").read_text("utf-8"))
    if tag != f"v{version}":
        raise ReleaseError(f"the tag {tag} does not name the package version v{version}")
    return changelog_section((root / "CHANGELOG.md").read_text("utf-8"), version)


def main(argv: list[str]) -> int:
    """
    Print the notes of the tag in *argv*; 1 with one plain sentence when they disagree.
    """
    if len(argv) != 1:
        print("usage: release_notes.py vX.Y.Z", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(release_notes(argv[0]))
    except ReleaseError as exc:
        # A plain line, not an ::error:: command: the tag is text this script did not write.
        print(f"release_notes.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
