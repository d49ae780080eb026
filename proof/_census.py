"""
What the profiles hold against what the service has: the client census of `make proof`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from spatiafi_ops.emulator import EmulatorHandle


def held_client_ids(config: Path) -> tuple[str | None, set[str]]:
    """
    Return the current client id of the default profile under *config*, and every other id
    whose secret the profile keeps on disk (journal pending, previous, backups).
    """
    current = None
    kept: set[str] = set()
    with contextlib.suppress(OSError, ValueError):
        current = str(json.loads((config / "app_credentials.json").read_text())["client_id"])
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        state = json.loads((config / "rotation-state.json").read_text())
        rotation, previous = state.get("rotation") or {}, state.get("previous") or {}
        for held in (rotation.get("pending") or {}, previous):
            if held.get("client_id") and held.get("client_secret"):
                kept.add(str(held["client_id"]))
    for backup in (config / "backups").glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            kept.add(str(json.loads(backup.read_text())["client_id"]))
    return current, kept - {current}


@dataclass
class Census:
    """
    Live clients at the service against what the profiles hold.
    """

    live: int = 0
    unaccounted: int = 0  # live, and no file of the profile holds its secret
    in_flight: int = 0  # live, secret kept in the journal/previous/backups
    broken: int = 0  # the stored current client is gone at the service


def client_census(
    handle: EmulatorHandle, configs: dict[str, Path], user_ids: dict[str, str]
) -> Census:
    """
    Compare each account's live clients with its profile's files (*configs* by email).
    """
    live: dict[str, set[str]] = {}
    for client in handle.clients():
        live.setdefault(str(client["user_id"]), set()).add(str(client["client_id"]))
    census = Census()
    for email, config in configs.items():
        mine = live.get(user_ids[email], set())
        current, kept = held_client_ids(config)
        census.live += len(mine)
        census.unaccounted += len(mine - kept - {current})
        census.in_flight += len(mine & kept)
        census.broken += current is not None and current not in mine
    return census
