"""
The ownership rule (spatiafi_ops.rotation._ownership), over every combination of its facts.

Every DELETE the engine sends asks this one function; the end-to-end cases are in
tests/e2e/test_ownership.py and the random sequences in tests/e2e/test_ownership_property.py.
"""

from __future__ import annotations

import itertools

import pytest

from spatiafi_ops.rotation._ownership import Facts, Proof, Refusal, explain, refusal

CLIENT = "00000000-0000-4000-8000-000000000001"
PROOFS: tuple[Proof | None, ...] = (None, "created", "held", "asked")
COMBINATIONS = list(
    itertools.product(
        PROOFS, (frozenset(), frozenset({"other"})), (False, True), ((), ("sink",)), (False, True)
    )
)


def expected(
    proof: Proof | None, holders: frozenset[str], current: bool, owed: tuple[str, ...], force: bool
) -> Refusal | None:
    """The rule as issue 17 states it, (a) to (d) in order; --force overrides (b) to (d)."""
    if proof is None:
        return Refusal.NOT_OURS  # (a): this profile's journal proves nothing, nobody asked
    if force:
        return None
    if holders:
        return Refusal.STORED_ELSEWHERE  # (b)
    if current:
        return Refusal.CURRENT  # (c)
    if owed and proof == "held":
        return Refusal.SINKS_OWED  # (d): only a client this profile stored can be in a sink
    return None


@pytest.mark.parametrize(("proof", "holders", "current", "owed", "force"), COMBINATIONS)
def test_every_combination(
    proof: Proof | None, holders: frozenset[str], current: bool, owed: tuple[str, ...], force: bool
) -> None:
    facts = Facts(CLIENT, proof, holders, current, owed, force)
    assert refusal(facts) is expected(proof, holders, current, owed, force)


def test_the_table_covers_all_64_combinations() -> None:
    assert len(set(COMBINATIONS)) == 64
    revocable = [c for c in COMBINATIONS if expected(*c) is None]
    # forced: 3 proofs x 8 other facts; unforced: 3 proofs x 2 sink states, less held and owed
    assert len(revocable) == 3 * 8 + 3 * 2 - 1


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (Facts(CLIENT, None, frozenset(), False, ()), "nothing in profile 'p'"),
        (Facts(CLIENT, "held", frozenset({"b", "a"}), False, ()), "profile 'a', 'b' stores it"),
        (Facts(CLIENT, "held", frozenset(), True, ()), "current credential"),
        (Facts(CLIENT, "held", frozenset(), False, ("github:o/r",)), "waiting for: github:o/r"),
    ],
)
def test_each_refusal_says_why_in_one_sentence(facts: Facts, words: str) -> None:
    why = refusal(facts)
    assert why is not None
    message = explain(facts, why, "p")
    assert CLIENT in message
    assert words in message
