"""
The ownership rule: whether this profile may revoke a client. Every DELETE the engine sends
asks it first: the previous client's revocation, an interrupted revocation replayed, a lost
create's client, a fleet run's, and ``credentials revoke``.

A client may be revoked only if

    (a) this profile's journal proves it created or stored it (or the user asked for it
        by name, and the service lists it or this profile knew it),
    (b) no other profile of the store's scope stores it now (read at the decision),
    (c) it is not the client this profile's store holds, and
    (d) every sink owed the current credentials has confirmed them, when a sink may
        still serve it (this profile stored it once).

``--force`` on ``credentials revoke`` overrides (b), (c) and (d), never (a). The facts are
gathered at the moment of the decision; the rule itself does no I/O, so one table of tests
covers every combination (tests/unit/test_ownership.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

# created: this profile created it and never stored it; held: this profile stored it;
# asked: the user named it (credentials revoke) and the service lists it.
Proof = Literal["created", "held", "asked"]


class Refusal(enum.Enum):
    """
    Why a client may not be revoked; the first rule it fails, in the order (a) to (d).
    """

    NOT_OURS = "not_ours"
    STORED_ELSEWHERE = "stored_elsewhere"
    CURRENT = "current"
    SINKS_OWED = "sinks_owed"


@dataclass(frozen=True)
class Facts:
    """
    What the rule decides on, read at the moment of the decision.
    """

    client_id: str
    proof: Proof | None
    other_holders: frozenset[str]  # other profiles that store it now
    current: bool  # this profile's store holds it
    owed: tuple[str, ...]  # sinks owed the current credentials, not yet confirmed
    force: bool = False  # the user's word (credentials revoke --force) over (b), (c), (d)


def refusal(facts: Facts) -> Refusal | None:
    """
    Return why *facts* forbid revoking the client, or ``None`` when it may be revoked.
    """
    if facts.proof is None:
        return Refusal.NOT_OURS
    if facts.force:
        return None
    if facts.other_holders:
        return Refusal.STORED_ELSEWHERE
    if facts.current:
        return Refusal.CURRENT
    if facts.owed and facts.proof == "held":
        return Refusal.SINKS_OWED
    return None


def explain(facts: Facts, why: Refusal, profile: str) -> str:
    """
    Return the sentence that tells the user why the client stays valid, and what to do.
    """
    client = facts.client_id
    if why is Refusal.NOT_OURS:
        return (
            f"client {client} was not revoked: nothing in profile {profile!r}'s journal "
            "shows that this profile created or stored it"
        )
    if why is Refusal.STORED_ELSEWHERE:
        holders = ", ".join(repr(name) for name in sorted(facts.other_holders))
        return f"client {client} was not revoked: profile {holders} stores it"
    if why is Refusal.CURRENT:
        return f"client {client} was not revoked: it is profile {profile!r}'s current credential"
    owed = ", ".join(facts.owed)
    return (
        f"client {client} stays valid until every sink has the current client (waiting "
        f"for: {owed}); name them with --publish, or drop one with --forget-sink"
    )
