"""
Which variables to emit: README: Output formats's names, the --prefix rule and GitHub output names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

from .._errors import UnsafeValue
from .._models import AccessToken, AppCredentials, Variable
from ._quoting import ENV_NAME, check_name, check_unicode

DEFAULT_PREFIX = "SPATIAFI_"

# README: Output formats: the suffix after the prefix, and the kebab-case GitHub output name.
CLIENT_ID = ("CLIENT_ID", "client-id")
CLIENT_SECRET = ("CLIENT_SECRET", "client-secret")
ACCESS_TOKEN = ("ACCESS_TOKEN", "access-token")
TOKEN_EXPIRES_AT = ("TOKEN_EXPIRES_AT", "expires-at")
TOKEN_TYPE = ("TOKEN_TYPE", "token-type")
_ROLES = (CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN, TOKEN_EXPIRES_AT, TOKEN_TYPE)

# Empty, or an identifier: then prefix + suffix is a portable variable name.
_PREFIX = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*)?")


def check_prefix(prefix: str) -> str:
    """
    Return *prefix* if every name built from it is a valid environment variable name.

    Raises:
        ValueError: with a sentence fit for the user (the CLI turns it into a usage error).
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"{prefix!r} is not a usable prefix: use ASCII letters, digits and '_', "
            "not starting with a digit (for example SPATIAFI_)"
        )
    return prefix


def build_variables(
    credentials: AppCredentials | None = None,
    token: AccessToken | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> tuple[Variable, ...]:
    """
    Return the variables to emit for *credentials* and/or *token*, in a stable order.

    The client secret and access token are secret; the client id, the expiry (integer
    epoch seconds, rounded down so that it never overstates the lifetime) and the
    token type are not.

    Raises:
        ValueError: for an unusable *prefix*.
    """
    check_prefix(prefix)
    out: list[Variable] = []
    if credentials is not None:
        out.append(Variable(prefix + CLIENT_ID[0], credentials.client_id, secret=False))
        out.append(Variable(prefix + CLIENT_SECRET[0], credentials.client_secret, secret=True))
    if token is not None:
        expires_at = str(math.floor(token.expires_at))
        out.append(Variable(prefix + ACCESS_TOKEN[0], token.value, secret=True))
        out.append(Variable(prefix + TOKEN_EXPIRES_AT[0], expires_at, secret=False))
        out.append(Variable(prefix + TOKEN_TYPE[0], token.token_type, secret=False))
    return tuple(out)


def github_output_name(name: str) -> str:
    """
    Return the kebab-case GitHub step output name for variable *name*.

    Names ending in one of README: Output formats's suffixes get its documented output name whatever
    the prefix (``MY_TOKEN_EXPIRES_AT`` → ``expires-at``); others are lower-cased with
    ``_`` → ``-`` (``DB_PASSWORD`` → ``db-password``).
    """
    for suffix, output in _ROLES:
        if name.endswith(suffix):
            return output
    return name.lower().replace("_", "-")


def check_unique(names: Iterable[str], fmt: str) -> None:
    """
    Refuse two variables with one name: every reader keeps only the last silently.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UnsafeValue(
                f"cannot write {name} in the {fmt} format: it is given twice", name=name
            )
        seen.add(name)


def render_lines(
    variables: Sequence[Variable],
    fmt: str,
    line: Callable[[Variable], str],
    *,
    pattern: re.Pattern[str] = ENV_NAME,
    hazards: Iterable[str] = (),
) -> str:
    """
    Return *line* of each variable, after the checks every line format makes: unique
    names, UTF-8 text, and names the format's readers accept (*pattern*, *hazards*).

    Raises:
        UnsafeValue: naming the first variable that fails a check or its *line*.
    """
    check_unique((variable.name for variable in variables), fmt)
    lines = []
    for variable in variables:
        check_unicode(variable.name, variable.value, fmt)
        check_name(variable.name, fmt, pattern, hazards)
        lines.append(line(variable))
    return "".join(lines)
