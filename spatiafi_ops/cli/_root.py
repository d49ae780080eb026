"""
The root ``spatiafi-ops`` group: global options, lazy subcommands, the error boundary.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, NamedTuple

import click

from .. import _log
from .._config import (
    DEFAULT_AUTH_URL,
    DEFAULT_DEADLINE,
    DEFAULT_PROFILE,
    DEFAULT_TIMEOUT,
    Settings,
)
from .._errors import SpatiafiOpsError
from .._redaction import scrub
from .._version import __version__
from ._exit import EXIT_BUG, exit_code_for, exit_codes_help
from ._params import DURATION, URL

# name -> "module:attribute"; a command's module is imported only when it runs, so that
# `spatiafi-ops token` never pays for the emulator, provisioning or requests.
LAZY_COMMANDS = {
    "credentials": "spatiafi_ops.cli._credentials:credentials",
    "doctor": "spatiafi_ops.cli._doctor:doctor",
    "emit": "spatiafi_ops.cli._emit:emit",
    "emulator": "spatiafi_ops.cli._emulator:emulator",
    "login": "spatiafi_ops.cli._login:login",
    "token": "spatiafi_ops.cli._token:token",
}


class CliState(NamedTuple):
    """
    What the root group parsed, handed to every subcommand through ``ctx.obj``.
    """

    settings: Settings
    log_level: str


class CommandFailed(click.ClickException):
    """
    A library error, shown as one ``Error:`` line with its documented exit code.
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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SpatiafiOpsError as exc:
            raise CommandFailed(scrub(str(exc)), exit_code_for(exc)) from None
        except Exception as exc:
            state = ctx.find_object(CliState)
            if state is not None and state.log_level == "debug":
                import traceback

                click.echo(scrub(traceback.format_exc()), err=True)
            raise CommandFailed(
                f"unexpected internal error ({type(exc).__name__}: {scrub(str(exc))}); "
                "rerun with --log-level debug for the traceback and report it",
                EXIT_BUG,
            ) from None


def _check_profile(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from .._store import validate_profile_name

    try:
        return validate_profile_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _configure_logging(log_format: str, level: str) -> None:
    from .. import _logging

    _logging.configure(log_format=log_format, level=level)  # type: ignore[arg-type]


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    epilog=exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(__version__, prog_name="spatiafi-ops")
@click.option(
    "--auth-url",
    type=URL,
    envvar="SPATIAFI_AUTH_URL",
    show_envvar=True,
    default=DEFAULT_AUTH_URL,
    help="Base URL of the SpatiaFi Auth API.",
)
@click.option(
    "--profile",
    callback=_check_profile,
    envvar="SPATIAFI_PROFILE",
    show_envvar=True,
    default=DEFAULT_PROFILE,
    help="Name of the stored credential profile.",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SPATIAFI_CONFIG_DIR",
    show_envvar=True,
    help="Credential store directory [default: py-spatiafi's user config dir].",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SPATIAFI_CACHE_DIR",
    show_envvar=True,
    help="Token cache directory [default: the user cache dir].",
)
@click.option(
    "--timeout",
    type=DURATION,
    envvar="SPATIAFI_TIMEOUT",
    show_envvar=True,
    default=DEFAULT_TIMEOUT,
    help="Timeout of each HTTP request.",
)
@click.option(
    "--deadline",
    type=DURATION,
    envvar="SPATIAFI_DEADLINE",
    show_envvar=True,
    default=DEFAULT_DEADLINE,
    help="Time budget of the whole command, retries included.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    envvar="SPATIAFI_LOG_FORMAT",
    show_envvar=True,
    default="auto",
    help="Log format on stderr; auto is console on a TTY, JSON lines otherwise.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    envvar="SPATIAFI_LOG_LEVEL",
    show_envvar=True,
    default="info",
    help="Lowest level of log events to show.",
)
@click.option(
    "--allow-insecure-permissions",
    is_flag=True,
    envvar="SPATIAFI_ALLOW_INSECURE_PERMISSIONS",
    show_envvar=True,
    help="Read secrets from files that group or others can read.",
)
@click.option(
    "--allow-insecure-transport",
    is_flag=True,
    envvar="SPATIAFI_ALLOW_INSECURE_TRANSPORT",
    show_envvar=True,
    help="Send secrets over http:// to hosts that are not loopback (cleartext).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    auth_url: str,
    profile: str,
    config_dir: Path | None,
    cache_dir: Path | None,
    timeout: float,
    deadline: float,
    log_format: str,
    log_level: str,
    allow_insecure_permissions: bool,
    allow_insecure_transport: bool,
) -> None:
    """
    Mint, rotate and emit SpatiaFi OAuth 2.0 app credentials, unattended and safely.

    stdout carries only the product (a token, JSON, env lines); logs go to stderr.
    """
    if timeout <= 0 or deadline <= 0:
        raise click.BadParameter("--timeout and --deadline must be positive")
    level = log_level.lower()
    _log.set_configurator(lambda: _configure_logging(log_format, level), level=level)
    ctx.obj = CliState(
        settings=Settings(
            auth_url=auth_url,
            profile=profile,
            config_dir=config_dir,
            cache_dir=cache_dir,
            timeout=timeout,
            deadline=deadline,
            allow_insecure_permissions=allow_insecure_permissions,
            allow_insecure_transport=allow_insecure_transport,
        ),
        log_level=level,
    )


def main() -> None:
    """
    Run the CLI as the ``spatiafi-ops`` console script.
    """
    cli.main(prog_name="spatiafi-ops")
