"""
The file format of stored credentials and rotation state: strict JSON, validated where it
enters, written atomically with private modes.

The credentials file is py-spatiafi's ``{user_id, client_id, client_secret}`` plus our
non-secret ``created_at`` and ``auth_url`` (docs/files.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from .. import _log
from .._config import normalize_auth_url
from .._errors import CredentialFileError
from .._files import atomic_write, ensure_private_dir
from .._models import (
    AppCredentials,
    check_client_id,
    check_client_secret,
    format_timestamp,
    parse_timestamp,
)
from .._redaction import register_secret
from .._statefiles import read_private_file

log = _log.get_logger(__name__)


def credentials_from_json(data: Any, path: Path) -> AppCredentials:
    """
    Build credentials from a parsed file, naming what is missing or malformed; the
    message never repeats what the file holds (a misplaced secret would be shown).

    Raises:
        CredentialFileError: for a non-object, a missing or malformed id or secret, or an
            invalid ``user_id``, ``created_at`` or ``auth_url``.
    """
    if not isinstance(data, dict):
        raise CredentialFileError(
            f"{path} does not hold a JSON object; fix or remove it", path=str(path)
        )
    missing = [
        k for k in ("client_id", "client_secret") if not isinstance(data.get(k), str) or not data[k]
    ]
    if missing:
        raise CredentialFileError(
            f"{path} is incomplete: {' and '.join(missing)} missing or empty; "
            "fix it or create new credentials with 'credentials create --force'",
            path=str(path),
        )
    secret = data["client_secret"]

    def invalid(what: str) -> CredentialFileError:
        return CredentialFileError(f"{path}: {what}; fix or remove it", path=str(path))

    try:
        check_client_id(data["client_id"])
    except ValueError:
        raise invalid("client_id is not a client id (a UUID)") from None
    try:
        register_secret(check_client_secret(secret))  # once valid: the registry encodes it
    except ValueError as exc:
        raise invalid(str(exc)) from None
    user_id = data.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int, type(None))):
        raise invalid("user_id is neither a string nor a number")
    auth_url = data.get("auth_url")
    if auth_url is not None and not _is_base_url(auth_url):
        raise invalid("auth_url is not an http(s) base URL")
    return AppCredentials(
        client_id=data["client_id"],
        client_secret=secret,
        user_id=str(user_id) if user_id is not None else None,
        created_at=_stored_created_at(data.get("created_at"), path),
        auth_url=auth_url,
    )


def _is_base_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        normalize_auth_url(value)
    except ValueError:
        return False
    return True


# A created_at later than this ahead of our clock would hold off rotation for that long.
MAX_CLOCK_AHEAD = 24 * 3600.0


def check_created_at(epoch: float) -> float:
    """
    Return *epoch* if it can be when credentials were created: from 1970 up to a day
    ahead of this clock (so it formats on every platform and cannot postpone a rotation).

    Raises:
        ValueError: with a sentence fit for the user.
    """
    if not 0 <= epoch <= time.time() + MAX_CLOCK_AHEAD:
        raise ValueError("a creation time must lie between 1970 and now")
    return epoch


# A stored created_at ahead of our clock was stamped by a clock that ran fast (or ours runs
# slow). Up to this far ahead it is read as now, which postpones a rotation by at most the
# skew; beyond it, it is no skew but nonsense, and read as unknown, which rotates at the next
# run. Either way with a warning, never an error: a profile stays usable (docs/files.md).
FUTURE_TOLERANCE = 300.0
MAX_STORED_AHEAD = 30 * 86400.0


def _stored_created_at(value: Any, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError):
            epoch = parse_timestamp(value)
            if epoch < 0:
                raise ValueError(value)
            now = time.time()
            if epoch <= now + FUTURE_TOLERANCE:
                return epoch
            believable = epoch <= now + MAX_STORED_AHEAD
            log.warning(
                "created_at_in_future",
                path=str(path),
                created_at=value,
                taken_as="now" if believable else "unknown (the next rotate --max-age rotates)",
                detail="a clock ran fast when it was stamped; set the real time with "
                "'spatiafi-ops credentials import --created-at WHEN'",
            )
            return now if believable else None
    raise CredentialFileError(
        f"{path} has an invalid created_at (an ISO 8601 time between 1970 and now is "
        "expected); fix it, or set it with 'spatiafi-ops credentials import --created-at WHEN'",
        path=str(path),
    )


def credentials_to_json(credentials: AppCredentials) -> dict[str, Any]:
    """
    Return the file form: py-spatiafi's three keys first, then our non-secret metadata.
    """
    data: dict[str, Any] = {
        "user_id": credentials.user_id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }
    if credentials.created_at is not None:
        data["created_at"] = format_timestamp(credentials.created_at)
    if credentials.auth_url is not None:
        data["auth_url"] = credentials.auth_url
    return data


def parse_state_json(
    data: bytes, path: Path, *, advice: str = "it was left untouched: fix or remove it"
) -> Any:
    """
    Parse a state file's bytes: strict JSON (no NaN or Infinity), bounded nesting.

    Raises:
        CredentialFileError: not UTF-8, not JSON, or nested too deeply.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialFileError(f"{path} is not UTF-8 text; {advice}", path=str(path)) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        reason = f"is not valid JSON (line {exc.lineno}, column {exc.colno})"
    except ValueError:
        reason = "holds a number JSON allows but this tool does not (NaN, Infinity, huge)"
    except RecursionError:
        reason = "is nested too deeply to be a credential or state file"
    raise CredentialFileError(f"{path} {reason}; {advice}", path=str(path))


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def read_private_json(path: Path, *, allow_insecure: bool = False) -> Any:
    """
    Read a JSON file that holds secrets, as ``read_private_file`` checks it.

    Raises:
        CredentialFileError: missing, not a regular file, too big, unreadable, not JSON.
        InsecurePermissions: a link, another user's file, or readable by group or others
            (unless allowed).
    """
    stored = read_private_file(path, allow_insecure=allow_insecure)
    if stored is None:
        raise CredentialFileError(f"cannot read {path}: it does not exist", path=str(path))
    if stored.open_to_others:
        log.warning("insecure_permissions_allowed", path=str(path))
    return parse_state_json(stored.data, path)


def write_private_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """
    Atomically write *data* as JSON with mode 0600 in a 0700 directory.

    *indent* ``None`` writes one compact line: json's C encoder runs only without an
    indent, several times faster for the journal, which a fleet run writes thousands of
    times.
    """
    ensure_private_dir(path.parent)
    atomic_write(path, (json.dumps(data, indent=indent) + "\n").encode())
