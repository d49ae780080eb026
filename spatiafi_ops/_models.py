"""
Value objects passed between the layers: credentials, tokens, results, output variables.

Secret fields are left out of ``repr`` so that a logged or printed object never leaks.
They are NamedTuples rather than dataclasses: a frozen dataclass costs a few milliseconds
to define, and these are on the cached-token path, which has a budget (make bench).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal, NamedTuple


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


# Client ids are UUIDs upstream (the create route answers uuid4): anything else is refused
# where it enters, so that it is safe in a URL path and a file name.
_CLIENT_ID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


_EXAMPLE_ID = "b2628e59-7391-4ad4-b891-32706a5d7fc6"


def is_client_id(value: str) -> bool:
    """
    Return whether *value* has the shape of a client id (a UUID).
    """
    return _CLIENT_ID.fullmatch(value) is not None


def is_bearer_type(token_type: object) -> bool:
    """
    Return whether *token_type* names the one token type we send: ``Bearer``.

    RFC 6749 §7.1 names the type in the answer, case-insensitively (§5.1); anything else
    (a NUL, a 200 KB string) must not reach a header or a child's environment.
    """
    return isinstance(token_type, str) and token_type.lower() == "bearer"


def check_client_id(client_id: str) -> str:
    """
    Return *client_id* if it can be one, so that it is safe in a URL path and a file name.

    Raises:
        ValueError: with a sentence fit for the user.
    """
    if not _CLIENT_ID.fullmatch(client_id):
        shown = "".join(ch if ch.isprintable() else "?" for ch in client_id[:80])
        raise ValueError(f"{shown!r} is not a client id (a UUID such as {_EXAMPLE_ID})")
    return client_id


# C0 and C1 control characters and DEL: never part of a secret, always a copy-paste accident.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_client_secret(secret: str) -> str:
    """
    Return *secret* if it can be one: non-empty UTF-8 text without control characters.

    The message never shows the secret.

    Raises:
        ValueError: with a sentence fit for the user.
    """
    if not secret:
        raise ValueError("the client secret is empty")
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the client secret is not valid UTF-8 text") from None
    found = _CONTROL.search(secret)
    if found is not None:
        raise ValueError(
            f"the client secret holds a control character (U+{ord(found.group()):04X}) at "
            f"position {found.start() + 1}"
        )
    return secret


def _repr_hiding(record: tuple[Any, ...], secret_field: str) -> str:
    fields: tuple[str, ...] = getattr(record, "_fields")  # noqa: B009 - NamedTuple API
    shown = ", ".join(
        f"{name}={'***' if name == secret_field else repr(value)}"
        for name, value in zip(fields, record, strict=True)
    )
    return f"{type(record).__name__}({shown})"


Action = Literal["created", "unchanged", "replaced", "rotated", "revoked", "planned", "imported"]


class AppCredentials(NamedTuple):
    """
    A SpatiaFi app credential: the long-lived ``client_id`` + ``client_secret`` pair.

    ``created_at`` is epoch seconds (``None`` for files written by other tools);
    ``auth_url`` is the service that issued it, when known.
    """

    client_id: str
    client_secret: str
    user_id: str | None = None
    created_at: float | None = None
    auth_url: str | None = None

    def __repr__(self) -> str:
        return _repr_hiding(self, "client_secret")


class UserLogin(NamedTuple):
    """
    A person's SpatiaFi username (email) and password, needed to create app credentials.
    """

    username: str
    password: str

    def __repr__(self) -> str:
        return _repr_hiding(self, "password")


class AccessToken(NamedTuple):
    """
    A short-lived bearer token and the epoch second at which it stops being accepted.
    """

    value: str
    token_type: str
    expires_at: float

    def __repr__(self) -> str:
        return _repr_hiding(self, "value")

    def ttl(self, now: float | None = None) -> float:
        """
        Return the seconds left before expiry (negative once expired).
        """
        return self.expires_at - (time.time() if now is None else now)


class ProvisionResult(NamedTuple):
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
    # Sinks that confirmed the current client in this run (issue 13): targets, no secret.
    published: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """
        Return the JSON-ready form, with list fields as lists and times as ISO 8601.
        """
        out = self._asdict()
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        for key in ("created_at", "revoke_after"):
            if out[key] is not None:
                out[key] = format_timestamp(out[key])
        return out


class Variable(NamedTuple):
    """
    One name/value pair to emit; ``secret`` values are masked where the format can.
    """

    name: str
    value: str
    secret: bool

    def __repr__(self) -> str:
        return _repr_hiding(self, "value")


class Payload(NamedTuple):
    """
    What a sink publishes: the profile's new credentials and the client they replace.
    """

    profile: str
    credentials: AppCredentials
    previous_client_id: str | None

    def to_json(self) -> dict[str, Any]:
        """
        Return the one JSON object every sink writes (it holds the secret).
        """
        created = self.credentials.created_at
        return {
            "profile": self.profile,
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "user_id": self.credentials.user_id,
            "created_at": format_timestamp(created) if created is not None else None,
            "auth_url": self.credentials.auth_url,
            "previous_client_id": self.previous_client_id,
        }

    def encoded(self) -> bytes:
        return json.dumps(self.to_json()).encode("utf-8")
