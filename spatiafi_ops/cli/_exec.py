"""
``spatiafi-ops exec``: run a command with an access token in its environment, as
aws-vault's ``exec`` does with AWS credentials.

On POSIX the process *becomes* the command (``execve``) once the token is in hand: no Python
parent lingers, signals reach the command directly, and its exit status (a signal death
included) is the one the caller sees. Windows has no ``execve`` that keeps the process, so
there the command runs as a child and its exit code is passed on (docs/scripting.md).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence

import click

from .._environ import child_environment
from .._models import AccessToken
from ._params import credentials_from_option, min_ttl_option
from ._root import CliState, CommandFailed
from ._token import current_token

# As a POSIX shell reports them (POSIX.1-2017 XCU 2.8.2 "Exit Status for Commands").
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
EXIT_SIGNAL_BASE = 128


def find_command(name: str, search_path: str | None) -> str:
    """
    Return the file a shell would run for *name*, searching *search_path* as ``PATH``.

    Raises:
        CommandFailed: exit 127 when nothing is found, 126 when what is found cannot be run.
    """
    if sys.platform == "win32":
        import shutil  # PATHEXT: `deploy` finds deploy.cmd

        found = shutil.which(name, path=search_path)
        if found is None:
            raise CommandFailed(f"{name}: command not found (searched PATH)", EXIT_NOT_FOUND)
        return found
    else:
        return _search_posix(name, search_path)


def _search_posix(name: str, search_path: str | None) -> str:
    searched = "/" not in name  # POSIX.1-2017 XCU 2.9.1.1: a name with a slash is a path
    if searched:
        directories = (search_path if search_path is not None else os.defpath).split(":")
        candidates = [os.path.join(directory or ".", name) for directory in directories]
    else:
        candidates = [name]
    not_executable = None
    for candidate in candidates:
        if os.path.isdir(candidate):
            if not searched:  # a search skips directories, as shells do
                raise CommandFailed(f"cannot run {name}: it is a directory", EXIT_CANNOT_EXECUTE)
        elif os.access(candidate, os.X_OK):
            return candidate
        elif not_executable is None and os.path.exists(candidate):
            not_executable = candidate
    if not_executable is not None:
        raise CommandFailed(
            f"cannot run {name}: {not_executable} is not executable (chmod +x it)",
            EXIT_CANNOT_EXECUTE,
        )
    raise CommandFailed(f"{name}: command not found (searched PATH)", EXIT_NOT_FOUND)


def command_environment(
    environ: Mapping[str, str],
    token: AccessToken,
    *,
    prefix: str,
    credentials_from: str | None = None,
) -> dict[str, str]:
    """
    Return *environ* without the credentials that mint tokens (those *credentials_from*
    names included), plus the token's variables: the command gets a token that expires,
    not what mints one.
    """
    from ..emit import build_variables  # lazy: the emitters load when there is something to emit

    env = child_environment(environ, credentials_from=credentials_from)
    env.update(
        (variable.name, variable.value) for variable in build_variables(None, token, prefix=prefix)
    )
    return env


def wait_for_command(executable: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
    """
    Run the command as a child and return its exit code; a signal N gives 128+N.

    Ctrl-C reaches the whole console (or process group), the command included: the
    command decides what it means, and we wait for its answer instead of dying first.
    """
    import signal
    import subprocess

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # The user's own command and arguments: running them is what `exec` is for.
        with subprocess.Popen([executable, *argv[1:]], env=dict(env)) as child:  # noqa: S603
            code = child.wait()
    except OSError as exc:
        raise _cannot_run(argv[0], executable, exc) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    return EXIT_SIGNAL_BASE - code if code < 0 else code


def _replace_process(executable: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
    """
    Become the command: ``execve`` returns only when it fails, and skips every exit
    handler, so what we wrote is flushed first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    from .._children import restore_caller_limits  # lazy: it loads subprocess and threading

    restore_caller_limits()  # ours were lowered to keep our secrets out of core files
    try:
        os.execve(executable, list(argv), dict(env))  # noqa: S606 - no shell: argv as given
    except OSError as exc:
        from .._files import harden_process  # lazy: execve failed, a rare path

        harden_process()  # still us, with the secrets: no core file again
        raise _cannot_run(argv[0], executable, exc) from None


def _cannot_run(name: str, executable: str, exc: OSError) -> CommandFailed:
    # Found a moment ago, refused now: gone meanwhile (127), or a #! interpreter that is
    # missing, a noexec mount, a format the kernel cannot run (126, as bash reports them).
    if not os.path.exists(executable):
        return CommandFailed(f"cannot run {name}: {exc.strerror or exc}", EXIT_NOT_FOUND)
    if exc.errno == errno.ENOENT:
        reason = "the interpreter its #! line names does not exist"
    else:
        reason = exc.strerror or str(exc)
    return CommandFailed(f"cannot run {name}: {reason}", EXIT_CANNOT_EXECUTE)


@click.command(
    name="exec",
    short_help="Run a command with an access token in its environment.",
    # Everything from CMD on is CMD's: `exec ls -l` does not read -l as an option of ours.
    context_settings={"allow_interspersed_args": False},
)
@min_ttl_option
@credentials_from_option
@click.option(
    "--prefix",
    default="SPATIAFI_",
    show_default=True,
    help="Prefix of the variable names.",
)
@click.option(
    "--no-cache", is_flag=True, help="Mint a new token; neither read nor write the cache."
)
@click.argument(
    "command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]..."
)
@click.pass_obj
def exec_command(
    state: CliState, min_ttl: float, prefix: str, no_cache: bool, command: tuple[str, ...]
) -> None:
    """
    Run CMD with SPATIAFI_ACCESS_TOKEN, SPATIAFI_TOKEN_EXPIRES_AT and SPATIAFI_TOKEN_TYPE
    in its environment (never in its arguments), reusing a cached token when it can.

    CMD does not inherit SPATIAFI_CLIENT_ID, SPATIAFI_CLIENT_SECRET, SPATIAFI_PASSWORD, nor
    the variable an env:NAME source names; it gets the caller's core-file limit back.
    The exit code is CMD's own (a signal N: 128+N, as a shell shows it); CMD never runs
    when no token can be had (exit 3, 4 or 5); 127 when CMD is not found, 126 when it
    cannot be run.
    """
    from ..emit import check_prefix  # lazy: the emitters load when there is something to emit

    try:
        check_prefix(prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None
    executable = find_command(command[0], os.environ.get("PATH"))
    token = current_token(
        state.settings, min_ttl=min_ttl, use_cache=not no_cache, own_process=state.own_process
    )
    env = command_environment(
        os.environ, token, prefix=prefix, credentials_from=state.settings.credentials_from
    )
    if sys.platform != "win32":
        _replace_process(executable, command, env)
    else:
        raise click.exceptions.Exit(wait_for_command(executable, command, env))
