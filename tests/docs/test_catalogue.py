"""
Every fenced block of README.md and docs/, and every file of examples/, is run by a test or
listed as not executable with its reason: a new block or example fails here until it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from .blocks import all_blocks, example_files
from .catalogue import NOT_EXECUTABLE, RUN_ELSEWHERE
from .test_recipes import RECIPES

REPO = Path(__file__).resolve().parents[2]


def covering(identity: str, keys: Iterable[str]) -> list[str]:
    """
    Return the keys that cover *identity*: equal to it, or a ``*`` prefix of it.
    """
    return [
        key
        for key in keys
        if key == identity or (key.endswith("*") and identity.startswith(key[:-1]))
    ]


def _registries() -> dict[str, dict[str, object]]:
    return {
        "run here (tests/docs/test_recipes.py)": dict(RECIPES),
        "run elsewhere": dict(RUN_ELSEWHERE),
        "not executable": dict(NOT_EXECUTABLE),
    }


def _identities() -> list[str]:
    return [block.identity for block in all_blocks()] + example_files()


def test_every_block_and_example_is_run_or_listed_with_a_reason() -> None:
    """Each is covered by exactly one entry; a new block fails until someone decides."""
    keys = [key for registry in _registries().values() for key in registry]
    problems = []
    for identity in _identities():
        found = covering(identity, keys)
        if len(found) != 1:
            problems.append(f"{identity!r}: covered by {found or 'nothing'}")
    assert problems == [], "\n".join(problems)


def test_every_entry_still_names_a_block_or_example() -> None:
    """A removed or rewritten block takes its entry with it (no stale reasons)."""
    identities = _identities()
    stale = [
        key
        for registry in _registries().values()
        for key in registry
        if not any(covering(identity, [key]) for identity in identities)
    ]
    assert stale == []


def test_every_reason_is_a_sentence() -> None:
    """Not executable says why, in words."""
    assert all(len(reason.split()) >= 4 for reason in NOT_EXECUTABLE.values())


def test_every_test_named_as_running_a_recipe_exists() -> None:
    """``RUN_ELSEWHERE`` names a test module, and a test in it, that exist."""
    for node in set(RUN_ELSEWHERE.values()):
        path, _, name = node.partition("::")
        assert (REPO / path).is_file(), node
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert not name or callable(getattr(module, name, None)), node
