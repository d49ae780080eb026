"""
Environment hygiene: the app credentials a process reads from its environment, and the
variables a child process never inherits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import _log
from ._errors import UsageError
from ._models import AppCredentials, check_client_id, check_client_secret
from ._redaction import register_secret

log = _log.get_logger(__name__)

# What a child never inherits: the app credentials as a pair, the user's password, and the
# credentials JSON actions/rotate hands to `credentials import` (actions/rotate/action.yml).
WITHHELD_VARIABLES = frozenset(
    {
        "SPATIAFI_CLIENT_ID",
        "SPATIAFI_CLIENT_SECRET",
        "SPATIAFI_PASSWORD",
        "SPATIAFI_ACTION_CREDENTIALS_JSON",
    }
)


def child_environment(
    environ: Mapping[str, str], *, credentials_from: str | None = None
) -> dict[str, str]:
    """
    Return *environ* for a program we start (exec's command, a sink, ``gh``): without every
    variable credentials are read from: the pair, the password, the actions' credentials
    JSON, and the ``env:NAME`` that *credentials_from* (``--credentials-from``) or
    ``SPATIAFI_CREDENTIALS_FROM`` names.
    """
    withheld = set(WITHHELD_VARIABLES)
    for spec in (credentials_from, environ.get("SPATIAFI_CREDENTIALS_FROM")):
        kind, sep, name = (spec or "").strip().partition(":")
        if kind == "env" and sep and name:
            withheld.add(name)
    return {name: value for name, value in environ.items() if name not in withheld}


def credentials_from_env(environ: Mapping[str, str] | None = None) -> AppCredentials | None:
    """
    Return credentials from ``SPATIAFI_CLIENT_ID``/``_SECRET`` when both are non-empty.

    A trailing newline in the secret (``echo`` or an editor put it there) is dropped with
    a warning; anything else that cannot be an id or a secret is refused.

    Raises:
        UsageError: naming the variable; its value is never shown.
    """
    env = os.environ if environ is None else environ
    client_id = env.get("SPATIAFI_CLIENT_ID", "").strip()
    client_secret = env.get("SPATIAFI_CLIENT_SECRET", "")
    if client_id and client_secret:
        credentials = AppCredentials(
            client_id=_env_client_id(client_id), client_secret=_env_secret(client_secret)
        )
        register_secret(credentials.client_secret)  # once valid: the registry encodes it
        return credentials
    if client_id or client_secret:
        log.warning(
            "partial_env_credentials_ignored",
            reason="set both SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET, or neither",
        )
    return None


def _env_client_id(value: str) -> str:
    try:
        return check_client_id(value)
    except ValueError:
        raise UsageError(
            "SPATIAFI_CLIENT_ID is not a client id (a UUID such as "
            "b2628e59-7391-4ad4-b891-32706a5d7fc6); set it to the client_id alone"
        ) from None


def _env_secret(value: str) -> str:
    secret = value.rstrip("\r\n")
    if secret != value:
        log.warning(
            "client_secret_newline_stripped",
            variable="SPATIAFI_CLIENT_SECRET",
            reason="a trailing newline is never part of a secret; set the variable without it",
        )
    try:
        return check_client_secret(secret)
    except ValueError as exc:
        raise UsageError(
            f"SPATIAFI_CLIENT_SECRET cannot be a client secret: {exc}; set it to the "
            "client_secret alone"
        ) from None
