"""
The root ``spatiafi-ops`` group: global options, lazy subcommands, the error boundary.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import click

from .. import _log
from .._config import DEFAULT_AUTH_URL, SETTING_BY_FIELD, Settings, parse_flag
from .._files import harden_process
from .._version import __version__
from . import _boundary, _output
from ._exit import EXIT_LOCAL_STATE, EXIT_SIGNALLED, exit_codes_help
from ._params import SettingType

F = TypeVar("F", bound=Callable[..., Any])

# The root's arguments as given, for the error about a global option after the command.
_ARGV_KEY = "spatiafi_ops.argv"
# Root options that are no global settings: a command's own --help or --version is no slip.
_NOT_GLOBAL = ("help", "version")

# name -> "module:attribute"; a command's module is imported only when it runs, so that
# `spatiafi-ops token` never pays for the emulator, provisioning or requests.
LAZY_COMMANDS = {
    "credentials": "spatiafi_ops.cli._credentials:credentials",
    "doctor": "spatiafi_ops.cli._doctor:doctor",
    "emit": "spatiafi_ops.cli._emit:emit",
    "emulator": "spatiafi_ops.cli._emulator:emulator",
    "exec": "spatiafi_ops.cli._exec:exec_command",
    "github-action": "spatiafi_ops.cli._github_action:github_action",
    "login": "spatiafi_ops.cli._login:login",
    "token": "spatiafi_ops.cli._token:token",
}


_OWN_PROCESS = object()  # main()'s ctx.obj until the root group replaces it by a CliState


class CliState(NamedTuple):
    """
    What the root group parsed, handed to every subcommand through ``ctx.obj``.
    """

    settings: Settings
    log_format: str
    log_level: str
    # Run as its own process (the console script), not inside a host such as a test's
    # CliRunner: it may set process-wide state (the cyclic collector, cli/_token.py).
    own_process: bool = False


class CommandFailed(click.ClickException):
    """
    A failure a command reports itself, with its own exit code (``exec``'s 126 and 127).
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


class LazyGroup(click.Group):
    """
    A group whose subcommands are imported on first use, and the CLI's error boundary.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _keep_from_click():
            return super().make_context(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _keep_from_click():
            try:
                return super().invoke(ctx)
            except click.NoSuchOption as exc:
                raise self._misplaced_global(ctx, exc) or exc from None

    def _misplaced_global(
        self, ctx: click.Context, exc: click.NoSuchOption
    ) -> click.UsageError | None:
        """
        Return the error for a global option given after the command, which names the
        command line that works: click would suggest a look-alike option of the command
        instead (``token --profile ci``: "Did you mean '--prefix'?", another meaning).
        """
        option = next(
            (p for p in self.params if exc.option_name in p.opts and p.name not in _NOT_GLOBAL),
            None,
        )
        argv: list[str] = ctx.meta.get(_ARGV_KEY, [])
        if option is None or exc.ctx is None:
            return None
        given = [exc.option_name]
        for index, arg in reversed(list(enumerate(argv))):  # the last: the one after the command
            if arg.startswith(f"{exc.option_name}="):
                given = [arg]
            elif arg == exc.option_name and not getattr(option, "is_flag", False):
                given = argv[index : index + 2]
            else:
                continue
            break
        import shlex  # lazy: only this misplaced option's message needs it

        command = exc.ctx.command_path.partition(" ")[2]
        fixed = " ".join(["spatiafi-ops", shlex.join(given), command])
        return click.UsageError(f"global options go before the command: `{fixed}`", ctx=exc.ctx)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """
        Run the CLI; standalone, end the process with the documented exit code and at most
        one sentence (in the chosen log format) for whatever went wrong.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        with _boundary.routed_to_logs():
            try:
                result = super().main(args, prog_name, complete_var, False, **extra)
                _output.flush_stdout()
            except SystemExit:
                raise
            except BaseException as exc:  # the boundary: every way a run ends
                failure = _boundary.failure_for(exc)
            else:
                sys.exit(result if isinstance(result, int) else 0)
            if failure.stdout_failed:
                _output.discard_stdout()
            _boundary.report(failure, *self._log_settings(args, prog_name))
        sys.exit(failure.exit_code)

    def _log_settings(self, args: Sequence[str] | None, prog_name: str | None) -> tuple[str, str]:
        """
        Return the log format and level the run asked for, even when parsing failed.

        The root options are parsed again, leniently (click's ``resilient_parsing``),
        so that a bad value elsewhere does not lose ``--log-format``.
        """
        argv = list(sys.argv[1:] if args is None else args)
        try:
            name = prog_name or "spatiafi-ops"
            with self.make_context(name, argv, resilient_parsing=True) as ctx:
                log_format = ctx.params.get("log_format") or "auto"
                level = str(ctx.params.get("log_level") or "info").lower()
        except Exception:  # the defaults, whatever went wrong
            log_format, level = "auto", "info"
        return _log.resolve(log_format, level, isatty=_stderr_isatty, environ=os.environ)


@contextlib.contextmanager
def _keep_from_click() -> Iterator[None]:
    """
    Keep Ctrl-C and EPIPE from click's own handling ("Aborted!" and exit 1).
    """
    try:
        yield
    except KeyboardInterrupt:
        raise _boundary.Interrupted(signal.SIGINT) from None
    except BrokenPipeError:
        raise _boundary.StdoutClosed from None


def _stderr_isatty() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


def _configure_logging(log_format: str, level: str) -> None:
    from .. import _logging  # structlog: only when a command configures logging

    _logging.configure(log_format=log_format, level=level)


def _setting_option(field: str, help_text: str, **extra: Any) -> Callable[[F], F]:
    """
    Return the option of Settings field *field*: parsed like its variable, by one parser.

    The variable is read by ``Settings.from_env`` (not by click), so both spellings of a
    setting go through the same code; the option, when given, wins.
    """
    spec = SETTING_BY_FIELD[field]
    default = Settings._field_defaults[field]
    if spec.parse is parse_flag:
        return click.option(
            spec.option, field, is_flag=True, default=None, help=f"{help_text} [env: {spec.env}]"
        )
    shown = extra.pop("show_default", default)
    return click.option(
        spec.option,
        field,
        type=SettingType(spec),
        default=None,
        show_default=shown if shown is not None else False,
        help=f"{help_text} [env: {spec.env}]",
        **extra,
    )


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    epilog=exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(__version__, prog_name="spatiafi-ops")
@_setting_option(
    "auth_url",
    f"Base URL of the SpatiaFi Auth API  [default: the profile's, else {DEFAULT_AUTH_URL}]",
    show_default=None,
)
@_setting_option("profile", "Name of the stored credential profile.")
@_setting_option(
    "config_dir",
    "Credential store directory [default: py-spatiafi's user config dir].",
    metavar="DIR",
)
@_setting_option("cache_dir", "Token cache directory [default: the user cache dir].", metavar="DIR")
@_setting_option(
    "store",
    "Keep the profile's credentials and rotation journal in this AWS Secrets Manager "
    "secret instead of the config dir; token, exec and emit read its AWSCURRENT.",
    metavar="aws-secretsmanager:SECRET-ID",
)
@_setting_option("timeout", "Timeout of each HTTP request.")
@_setting_option("deadline", "Time budget of the whole command, retries included.")
@click.option(
    "--log-format",
    type=click.Choice(_log.FORMATS),
    envvar="SPATIAFI_LOG_FORMAT",
    show_envvar=True,
    default="auto",
    help="Log format on stderr; auto is github under GitHub Actions, console on a TTY, "
    "JSON lines otherwise.",
)
@click.option(
    "--log-level",
    type=click.Choice(list(_log.LEVELS), case_sensitive=False),
    envvar="SPATIAFI_LOG_LEVEL",
    show_envvar=True,
    default="info",
    help="Lowest level of log events to show (debug when RUNNER_DEBUG=1).",
)
@_setting_option(
    "allow_insecure_permissions", "Read secrets from files that group or others can read."
)
@_setting_option(
    "allow_insecure_transport",
    "Allow http:// to hosts other than this machine (secrets travel in cleartext).",
)
@click.pass_context
def cli(ctx: click.Context, /, log_format: str, log_level: str, **given: Any) -> None:
    """
    Mint, rotate and emit SpatiaFi OAuth 2.0 app credentials, unattended and safely.

    stdout carries only the product (a token, JSON, env lines); logs go to stderr.
    Global options come before the command: spatiafi-ops --profile ci token.
    """
    log_format, level = _log.resolve(
        log_format, log_level.lower(), isatty=_stderr_isatty, environ=os.environ
    )
    _log.set_configurator(lambda: _configure_logging(log_format, level), level=level)
    overrides = {field: value for field, value in given.items() if value is not None}
    settings = Settings.from_env()._replace(**overrides)
    own_process = ctx.obj is _OWN_PROCESS
    ctx.obj = CliState(settings, log_format, log_level=level, own_process=own_process)


def main() -> None:
    """
    Run the CLI as the ``spatiafi-ops`` console script.
    """
    harden_process()  # before any secret is read: no core file will hold one
    with _boundary.signals_as_exceptions():
        try:
            cli.main(prog_name="spatiafi-ops", obj=_OWN_PROCESS)
        except _boundary.Interrupted as exc:  # arrived while the run was already ending
            code = EXIT_SIGNALLED + exc.signum
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    _exit_now(code)


def _exit_now(code: int) -> None:
    """
    End the process without the interpreter's shutdown, some 20 ms of the cached-token
    path (make bench): every file is written and fsynced by then, threads are joined, and
    the standard streams are flushed here.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or EXIT_LOCAL_STATE
    os._exit(code)
