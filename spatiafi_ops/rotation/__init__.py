"""
Every change to a profile's app credentials, as one journaled state machine.

``create``, ``ensure``, ``rotate``, ``revoke`` and fleet rotation all go through it. Each
verb takes the profile lock, finishes whatever an earlier run left, then decides whether
to change; the engine makes the change, writing the journal before each remote write::

                 ┌──────── lost answer: list clients, revoke the orphan, retry ───────┐
                 ▼                                                                    │
    begin ──▶ planned ──(journal; POST /clients/)──▶ created ──(secret journaled)──┐  │
                 │                                     └────────────────────────────┼──┘
                 │ refused (4xx): nothing to resume                                 ▼
                 ▼                                        verify (mint with the new client)
               closed ◀── retire old ◀── switch (store) ◀──┘      │ rejected: discarded,
                  │       (previous, backup                        │ and no new client
                  │        or hand-revoke list)                    │ until one is accepted
                  ▼
    previous ──(grace over; DELETE journaled in `revoking`)──▶ revoked

A process killed at any instant leaves a store that mints; the next run resumes from the
journal (``rotation-state.json``) without creating a second client. A clock problem
(``ClockSkew``) or an outage stops a run with its journal intact. The inputs are explicit:
a frozen ``Policy`` (what the run may do) and a ``RunContext`` (settings, login source,
create gate), made by the caller. The engine keeps a profile through one seam,
``CredentialStore`` (``FileStore``: the config directory).
"""

from __future__ import annotations

from ._context import DEFAULT_GRACE, DEFAULT_MAX_AGE, LoginSource, Policy, RunContext
from ._engine import CRASH_ENV, CRASH_POINTS
from ._fleet import ProfileOutcome, fleet_summary, rotate_all_profiles
from ._store import CredentialStore, FileStore
from ._verbs import (
    create_credentials,
    declare_exclusive_account,
    ensure_credentials,
    revoke_credentials,
    rotate_credentials,
)

__all__ = [
    "CRASH_ENV",
    "CRASH_POINTS",
    "DEFAULT_GRACE",
    "DEFAULT_MAX_AGE",
    "CredentialStore",
    "FileStore",
    "LoginSource",
    "Policy",
    "ProfileOutcome",
    "RunContext",
    "create_credentials",
    "declare_exclusive_account",
    "ensure_credentials",
    "fleet_summary",
    "revoke_credentials",
    "rotate_all_profiles",
    "rotate_credentials",
]

for _name in ("CredentialStore", "FileStore", "Policy", "ProfileOutcome", "RunContext"):
    globals()[_name].__module__ = __name__
del _name
