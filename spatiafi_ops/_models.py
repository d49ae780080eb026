"""
Value objects passed between the layers: credentials, tokens, results, output variables.

Secret fields are excluded from ``repr`` so that a logged or printed object never leaks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal


def format_timestamp(epoch: float) -> str:
    """
    Return *epoch* as an ISO 8601 UTC string with a ``Z``, as stored and printed.
    """
    from datetime import datetime, timezone

    moment = datetime.fromtimestamp(epoch, tz=timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def parse_timestamp(text: str) -> float:
    """
    Return the epoch seconds of an ISO 8601 string (a bare date-time is taken as UTC).

    Raises:
        ValueError: when *text* is not ISO 8601.
    """
    from datetime import datetime, timezone

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


Action = Literal["created", "unchanged", "replaced", "rotated", "revoked", "planned"]


@dataclass(frozen=True)
class AppCredentials:
    """
    A SpatiaFi app credential: the long-lived ``client_id`` + ``client_secret`` pair.

    ``created_at`` is epoch seconds (``None`` for files written by other tools);
    ``auth_url`` is the service that issued it, when known.
    """

    client_id: str
    client_secret: str = field(repr=False)
    user_id: str | None = None
    created_at: float | None = None
    auth_url: str | None = None


@dataclass(frozen=True)
class UserLogin:
    """
    A person's SpatiaFi username (email) and password, needed to create app credentials.
    """

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    """
    A short-lived bearer token and the epoch second at which it stops being accepted.
    """

    value: str = field(repr=False)
    token_type: str
    expires_at: float

    def ttl(self, now: float | None = None) -> float:
        """
        Return the seconds left before expiry (negative once expired).
        """
        return self.expires_at - (time.time() if now is None else now)


@dataclass(frozen=True)
class ProvisionResult:
    """
    What a provisioning call did; rendered as the CLI's result JSON. Never holds a secret.
    """

    profile: str
    action: Action
    client_id: str | None
    previous_client_id: str | None = None
    created_at: float | None = None
    reason: str | None = None
    revoked_client_ids: tuple[str, ...] = ()
    manual_revoke_client_ids: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    # Rotation details (issue 4): all non-secret.
    rotation_id: str | None = None
    resumed: bool = False
    revoke_after: float | None = None
    orphaned_client_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """
        Return the JSON-ready form, with list fields as lists and times as ISO 8601.
        """
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        for key in ("created_at", "revoke_after"):
            if out[key] is not None:
                out[key] = format_timestamp(out[key])
        return out


@dataclass(frozen=True)
class Variable:
    """
    One name/value pair to emit; ``secret`` values are masked where the format can.
    """

    name: str
    value: str = field(repr=False)
    secret: bool
