"""
The one map from library exceptions to process exit codes (README: The CLI).
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
EXIT_LOCAL_STATE = 5
# What a shell reports for a process that signal N ended (POSIX XCU 2.8.2): 128 + N.
EXIT_SIGNALLED = 128
# A reader that went away (`spatiafi-ops token | head -c0`): silent, as if killed by SIGPIPE.
EXIT_BROKEN_PIPE = EXIT_SIGNALLED + 13

EXIT_MEANINGS: tuple[tuple[int, str], ...] = (
    (0, "success, including a no-op"),
    (EXIT_BUG, "unexpected internal error (a bug)"),
    (EXIT_USAGE, "usage error: bad option or value"),
    (3, "the service rejected the credentials (bad password, invalid or revoked client)"),
    (4, "the service was unreachable or kept failing after retries"),
    (EXIT_LOCAL_STATE, "local state problem: missing, corrupt or insecure file, lock, output"),
    (EXIT_SIGNALLED + 2, "stopped by SIGINT (Ctrl-C), after releasing locks"),
    (EXIT_BROKEN_PIPE, "stdout closed by its reader (`| head -c0`): silent, as SIGPIPE"),
    (EXIT_SIGNALLED + 15, "stopped by SIGTERM, after releasing locks"),
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
    lines += [f"  {code:>3}  {meaning}" for code, meaning in EXIT_MEANINGS]
    return "\n".join(lines)
