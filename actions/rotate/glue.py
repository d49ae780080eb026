"""
Glue of the rotate action: seed a throwaway credential store, and turn result JSON into outputs.

Runs with the action venv's interpreter, stdlib only; the steps of action.yml call it as::

    python glue.py seed CONFIG_DIR      # env SPATIAFI_CLIENT_ID, SPATIAFI_CLIENT_SECRET,
                                        #     SPATIAFI_ACTION_CREATED_AT
    python glue.py rotated < result.json >> "$GITHUB_OUTPUT"
    python glue.py revoked < result.json >> "$GITHUB_OUTPUT"

``seed`` writes py-spatiafi's ``app_credentials.json`` (mode 0600) plus the ``created_at``
metadata that ``credentials rotate --max-age`` compares against. A secret cannot be read back
from GitHub together with its age, so the age comes from the ``created-at`` input (a
repository variable that the action's write-back keeps current); when it is empty the age is
unknown and is taken as "old", so the credentials are rotated.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

UNKNOWN_AGE = "1970-01-01T00:00:00Z"
CREDENTIALS_FILE = "app_credentials.json"
USAGE_ERROR = 2  # the CLI's exit code for a bad input value


def _escape(data: str) -> str:
    """
    Return *data* escaped for a workflow command (actions/toolkit ``escapeData``).
    """
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _annotate(level: str, message: str) -> None:
    print(f"::{level} title=spatiafi-ops::{_escape(message)}", file=sys.stderr)


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    _annotate("error", message)
    raise SystemExit(code)


def parse_created_at(text: str) -> str:
    """
    Return *text* (ISO 8601, a date, or epoch seconds) as ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises:
        ValueError: when *text* is none of those.
    """
    text = text.strip()
    if text.isdigit():
        moment = datetime.fromtimestamp(int(text), tz=timezone.utc)
    else:
        # Python 3.10's fromisoformat does not accept a trailing "Z".
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(config_dir: Path) -> None:
    """
    Write the current credentials from the environment into *config_dir*'s default profile.
    """
    client_id = os.environ.get("SPATIAFI_CLIENT_ID", "")
    client_secret = os.environ.get("SPATIAFI_CLIENT_SECRET", "")
    raw_created_at = os.environ.get("SPATIAFI_ACTION_CREATED_AT", "").strip()
    if raw_created_at:
        try:
            created_at = parse_created_at(raw_created_at)
        except (ValueError, OverflowError, OSError):
            _fail(
                f"The 'created-at' input must be an ISO 8601 time (2026-01-31T12:00:00Z) "
                f"or epoch seconds, not {raw_created_at!r}."
            )
    else:
        _annotate(
            "warning",
            "The 'created-at' input is empty, so the age of the credentials is unknown and they "
            "are rotated now. Pass the created-at output back in (write-back stores it in a "
            "repository variable) so that later runs rotate only after max-age.",
        )
        created_at = UNKNOWN_AGE
    data = {
        "user_id": None,
        "client_id": client_id,
        "client_secret": client_secret,
        "created_at": created_at,
    }
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def _result() -> dict[str, Any]:
    try:
        data: Any = json.load(sys.stdin)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        _fail("spatiafi-ops did not print a result JSON object", code=1)
    return data


def _output(name: str, value: object) -> None:
    text = "" if value is None else str(value)
    if "\n" in text or "\r" in text:
        _fail(f"refusing to write a multi-line value to the {name!r} output", code=1)
    print(f"{name}={text}")


def rotated() -> None:
    """
    Print the outputs of a ``credentials rotate`` result: rotated, action, ids, created-at.
    """
    result = _result()
    is_rotated = result.get("action") == "rotated"
    _output("rotated", "true" if is_rotated else "false")
    _output("action", result.get("action"))
    _output("previous-client-id", result.get("previous_client_id") if is_rotated else "")
    _output("created-at", result.get("created_at"))


def revoked() -> None:
    """
    Print the ``revoked`` output of a ``credentials revoke`` result.
    """
    _output("revoked", "true" if _result().get("action") == "revoked" else "false")


def main(argv: list[str]) -> None:
    """
    Dispatch ``seed CONFIG_DIR``, ``rotated`` or ``revoked``.
    """
    if len(argv) == 2 and argv[0] == "seed":
        seed(Path(argv[1]))
    elif argv == ["rotated"]:
        rotated()
    elif argv == ["revoked"]:
        revoked()
    else:
        _fail(f"usage: glue.py seed CONFIG_DIR | rotated | revoked (got {argv!r})", code=1)


if __name__ == "__main__":
    main(sys.argv[1:])
