"""
Glue of the rotate action: check inputs, seed a throwaway store, turn result JSON into outputs.

Runs with the interpreter of the action's environment (spatiafi-ops is installed there); the
steps of action.yml call it as::

    python glue.py seed >> "$GITHUB_OUTPUT"       # env: the inputs (see check_inputs)
    python glue.py rotated < result.json >> "$GITHUB_OUTPUT"
    python glue.py revoked < result.json >> "$GITHUB_OUTPUT"
    python glue.py annotate error|warning MESSAGE

``seed`` writes py-spatiafi's ``app_credentials.json`` (mode 0600) plus the ``created_at``
metadata that ``credentials rotate --max-age`` compares against. A secret cannot be read back
from GitHub together with its age, so the age comes from the ``created-at`` input (a
repository variable that the action's write-back keeps current); when it is empty the age is
unknown and is taken as "old", so the credentials are rotated.

Transitional: ``spatiafi-ops credentials import`` and a ``github:`` publish sink will take
over the store format and the write-back, and this file goes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from spatiafi_ops.emit._quoting import escape_command_data

UNKNOWN_AGE = "1970-01-01T00:00:00Z"
CREDENTIALS_FILE = "app_credentials.json"
USAGE_ERROR = 2  # the CLI's exit codes (README: The CLI)
LOCAL_STATE_ERROR = 5
# YAML 1.2 core schema spellings of a boolean input.
BOOLEANS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
WRITE_BACK_TARGETS = ("none", "repository", "environment")
EMPTY_INPUT_HINT = (
    "If it comes from a secret or variable, make sure it exists and is available to this "
    "workflow run (secrets are not passed to runs triggered from forks or by Dependabot)."
)


def annotate(level: str, message: str) -> None:
    """
    Print *message* as a ``::error::``/``::warning::`` workflow command, escaped.
    """
    print(f"::{level} title=spatiafi-ops::{escape_command_data(message)}", file=sys.stderr)


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    annotate("error", message)
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


def _boolean(environ: Mapping[str, str], name: str, variable: str) -> bool:
    value = environ.get(variable, "")
    if value not in BOOLEANS:
        _fail(f"The '{name}' input must be true or false, not {value!r}.")
    return BOOLEANS[value]


def _required(environ: Mapping[str, str], name: str, variable: str) -> str:
    value = environ.get(variable, "")
    if not value:
        _fail(f"The '{name}' input is empty. {EMPTY_INPUT_HINT}")
    return value


def check_inputs(environ: Mapping[str, str]) -> None:
    """
    Check every input before the first network call, so a bad one leaves nothing behind.
    """
    for name, variable in (
        ("client-id", "SPATIAFI_CLIENT_ID"),
        ("client-secret", "SPATIAFI_CLIENT_SECRET"),
        ("username", "SPATIAFI_USERNAME"),
        ("password", "SPATIAFI_PASSWORD"),
        ("max-age", "SPATIAFI_ACTION_MAX_AGE"),
    ):
        _required(environ, name, variable)
    _boolean(environ, "dry-run", "SPATIAFI_ACTION_DRY_RUN")
    revoke_old = _boolean(environ, "revoke-old", "SPATIAFI_ACTION_REVOKE_OLD")
    write_back = environ.get("SPATIAFI_ACTION_WRITE_BACK", "")
    if write_back not in WRITE_BACK_TARGETS:
        _fail(
            f"The 'write-back' input must be none, repository or environment, not {write_back!r}."
        )
    if write_back != "none":
        _required(environ, "repository", "SPATIAFI_ACTION_REPOSITORY")
        _required(environ, "github-token", "SPATIAFI_ACTION_GITHUB_TOKEN")
        if write_back == "environment":
            _required(environ, "environment", "SPATIAFI_ACTION_ENVIRONMENT")
        if shutil.which("gh") is None:
            _fail(
                "write-back needs the gh CLI on PATH (GitHub-hosted runners have it).",
                LOCAL_STATE_ERROR,
            )
    elif revoke_old:
        _fail(
            "revoke-old needs write-back: without it the new secret exists only in this job's "
            "outputs. Store it first, then run 'spatiafi-ops credentials revoke' on the "
            "previous client."
        )


def _created_at(environ: Mapping[str, str]) -> str:
    raw = environ.get("SPATIAFI_ACTION_CREATED_AT", "").strip()
    if not raw:
        annotate(
            "warning",
            "The 'created-at' input is empty, so the age of the credentials is unknown and they "
            "are rotated now. Pass the created-at output back in (write-back stores it in a "
            "repository variable) so that later runs rotate only after max-age.",
        )
        return UNKNOWN_AGE
    try:
        return parse_created_at(raw)
    except (ValueError, OverflowError, OSError):
        _fail(
            f"The 'created-at' input must be an ISO 8601 time (2026-01-31T12:00:00Z) "
            f"or epoch seconds, not {raw!r}."
        )


def seed(environ: Mapping[str, str]) -> None:
    """
    Check the inputs, write the current credentials into a fresh store, print its output.
    """
    check_inputs(environ)
    created_at = _created_at(environ)
    parent = Path(environ["RUNNER_TEMP"]) / "spatiafi-ops"
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_dir = Path(tempfile.mkdtemp(prefix="rotate.", dir=parent))  # 0700
    _output("config-dir", config_dir)
    data = {
        "user_id": None,
        "client_id": environ["SPATIAFI_CLIENT_ID"],
        "client_secret": environ["SPATIAFI_CLIENT_SECRET"],
        "created_at": created_at,
    }
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
    Dispatch ``seed``, ``rotated``, ``revoked`` or ``annotate LEVEL MESSAGE``.
    """
    if argv == ["seed"]:
        seed(os.environ)
    elif argv == ["rotated"]:
        rotated()
    elif argv == ["revoked"]:
        revoked()
    elif len(argv) == 3 and argv[0] == "annotate" and argv[1] in ("error", "warning"):
        annotate(argv[1], argv[2])
    else:
        _fail(f"usage: glue.py seed | rotated | revoked | annotate LEVEL MESSAGE (got {argv!r})", 1)


if __name__ == "__main__":
    main(sys.argv[1:])
