"""
The one map from library exceptions to process exit codes (SPEC §3).
"""

from __future__ import annotations

from .._errors import CredentialsRejected, LocalStateError, ServiceError, UsageError

# Looked up along type(exc).__mro__, so new subclasses need no edit here.
EXIT_CODES: dict[type[BaseException], int] = {
    UsageError: 2,
    CredentialsRejected: 3,
    ServiceError: 4,
    LocalStateError: 5,
}
EXIT_BUG = 1
EXIT_USAGE = 2  # click's own

EXIT_MEANINGS: tuple[tuple[int, str], ...] = (
    (0, "success, including a no-op"),
    (EXIT_BUG, "unexpected internal error (a bug)"),
    (EXIT_USAGE, "usage error: bad option or value"),
    (3, "the service rejected the credentials (bad password, invalid or revoked client)"),
    (4, "the service was unreachable or kept failing after retries"),
    (5, "local state problem: missing, corrupt or insecure file, lock, output target"),
)


def exit_code_for(exc: BaseException) -> int:
    """
    Return the documented exit code for *exc*; anything unknown is a bug.
    """
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_BUG


def exit_codes_help() -> str:
    """
    Return the exit-code table for ``--help``, generated from the map above.
    """
    lines = ["\b", "Exit codes:"]
    lines += [f"  {code}  {meaning}" for code, meaning in EXIT_MEANINGS]
    return "\n".join(lines)
