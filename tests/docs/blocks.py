"""
The recipes of the docs as data: every fenced block of README.md and docs/*.md, and every
file of examples/, each with an identity that survives edits elsewhere in its file.

A block's identity is ``FILE::FIRST-LINE`` (its first non-blank line, stripped), with
``#2``, ``#3``... for a repeated first line in one file; an example file's is its path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
EXAMPLES = REPO / "examples"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """
    One fenced block: where it is, its info string's language, and its text (dedented).
    """

    path: Path
    line: int
    language: str
    text: str
    identity: str

    @property
    def relative(self) -> str:
        return self.path.relative_to(REPO).as_posix()


def fenced_blocks(path: Path) -> list[Block]:
    """
    Return the fenced blocks of a Markdown file (CommonMark fences, indented ones too).
    """
    blocks: list[Block] = []
    seen: dict[str, int] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            body.append(lines[end].removeprefix(indent))
            end += 1
        text = "\n".join(body) + "\n"
        first = next((line.strip() for line in body if line.strip()), "")
        relative = path.relative_to(REPO).as_posix()
        key = f"{relative}::{first}"
        seen[key] = seen.get(key, 0) + 1
        identity = key if seen[key] == 1 else f"{key}#{seen[key]}"
        language = opening["info"].strip().split(" ")[0].lower()
        blocks.append(Block(path, index + 1, language, text, identity))
        index = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in DOCS for block in fenced_blocks(path)]


def example_files() -> list[str]:
    """
    Return every file under examples/, as a path relative to the repository.
    """
    return sorted(
        path.relative_to(REPO).as_posix()
        for path in EXAMPLES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
