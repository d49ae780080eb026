"""
Reading docs/emulator.md as test data: its HTTP examples and its time-rejection templates.

The guide is executed rather than trusted: what it shows is what the tests send and expect.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "emulator.md"
README = ROOT / "README.md"

_EXAMPLE = re.compile(
    r"```http\n(?P<request>.*?)```\n\nAnswer `(?P<status>\d{3}) [^`]*`"
    r"(?:, no body\.|:\n\n```json\n(?P<body>.*?)```)",
    re.DOTALL,
)
_TEMPLATE_ROW = re.compile(r"^\| (?P<failure>[^|]+?) \| `(?P<template>The token [^`]+)` \|$", re.M)
_PLACEHOLDER = re.compile(r"<(\w+)>")


class Example(NamedTuple):
    """
    One documented request and the answer the guide promises for it.
    """

    request: str
    status: int
    body: str | None


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def python_blocks(text: str, containing: str) -> list[str]:
    """
    Return the ```python blocks of *text* that contain *containing*.
    """
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    return [block for block in blocks if containing in block]


def examples(text: str) -> list[Example]:
    """
    Return every ```http block with its answer, in document order.
    """
    found = [Example(m["request"], int(m["status"]), m["body"]) for m in _EXAMPLE.finditer(text)]
    assert len(found) == text.count("```http"), "an ```http block has no parsable answer"
    return found


def parse_request(request: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """
    Split an example into method, path, headers and body (UTF-8, exactly as written).
    """
    head, _, body = request.rstrip("\n").partition("\n\n")
    first, *header_lines = head.split("\n")
    method, path = first.split(" ")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return method, path, headers, body.encode("utf-8") if body else None


def time_rejections(text: str) -> dict[str, re.Pattern[str]]:
    """
    Return the documented time-rejection descriptions as patterns, keyed by failure; each
    ``<name>`` placeholder becomes a named group of a whole number.
    """
    patterns = {}
    for row in _TEMPLATE_ROW.finditer(text):
        parts = _PLACEHOLDER.split(row["template"])
        regex = "".join(
            re.escape(part) if index % 2 == 0 else rf"(?P<{part}>-?\d+)"
            for index, part in enumerate(parts)
        )
        patterns[row["failure"].strip()] = re.compile(regex)
    return patterns


def same_shape(
    documented: Any, actual: Any, dynamic: frozenset[str], seen: dict[str, str], where: str = "$"
) -> None:
    """
    Assert that *actual* matches *documented*: equal values and types, except the values of
    *dynamic* keys, which need only the same type (and are recorded in *seen*, documented
    text → actual text, so that later examples can refer to them).
    """
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(documented), where
        for key, value in documented.items():
            if key in dynamic:
                assert type(actual[key]) is type(value), f"{where}.{key}"
                if isinstance(value, str):
                    seen[value] = actual[key]
            else:
                same_shape(value, actual[key], dynamic, seen, f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(documented), where
        for index, (value, got) in enumerate(zip(documented, actual, strict=True)):
            same_shape(value, got, dynamic, seen, f"{where}[{index}]")
    else:
        assert (type(actual), actual) == (type(documented), documented), where
