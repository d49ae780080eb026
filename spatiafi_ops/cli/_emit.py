"""
``spatiafi-ops emit``: stored credentials (and optionally a token) in a consumer's format.

The shared ``--output/--prefix/--github-env`` options and the one call into
``spatiafi_ops.emit`` live here; ``token --format`` uses them too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .._models import AccessToken, AppCredentials
from ._params import FormatType, credentials_from_option, min_ttl_option
from ._root import CliState

F = TypeVar("F", bound=Callable[..., Any])


def output_options(command: F) -> F:
    """
    Add ``--output``, ``--prefix`` and ``--github-env`` to *command*.
    """
    command = click.option(
        "--github-env",
        is_flag=True,
        help="With --format github, also export the variables to later steps ($GITHUB_ENV).",
    )(command)
    command = click.option(
        "--prefix",
        default="SPATIAFI_",
        show_default=True,
        help="Prefix of the variable names.",
    )(command)
    return click.option(
        "--output",
        metavar="PATH",
        help="Write to PATH (atomically, mode 0600) instead of stdout; '-' is stdout.",
    )(command)


def emit_variables(
    output_format: str,
    credentials: AppCredentials | None,
    token: AccessToken | None,
    *,
    output: str | None,
    prefix: str,
    github_env: bool,
) -> None:
    """
    Render the variables in *output_format* and write them where the options say.
    """
    from .. import emit  # lazy: the emitters load when there is something to emit

    if github_env and output_format != "github":
        raise click.UsageError("--github-env only goes with --format github")
    if output is not None and not emit.FORMATS[output_format].accepts_output:
        raise click.UsageError(
            f"--output does not go with --format {output_format}: it writes the runner's files"
        )
    try:
        checked_prefix = emit.check_prefix(prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None
    variables = emit.build_variables(credentials, token, prefix=checked_prefix)
    rendered = emit.render(output_format, variables, github_env=github_env)
    emit.write(rendered, stdout=sys.stdout, output=output, environ=os.environ)


@click.command()
@click.option(
    "--format",
    "output_format",
    type=FormatType(),
    required=True,
    help="The consumer's format.",
)
@output_options
@click.option("--with-token", is_flag=True, help="Add a fresh access token and its expiry.")
@min_ttl_option
@credentials_from_option
@click.pass_obj
def emit(
    state: CliState,
    output_format: str,
    output: str | None,
    prefix: str,
    github_env: bool,
    with_token: bool,
    min_ttl: float,
) -> None:
    """
    Write the stored app credentials (and with --with-token a token) for a consumer:
    shell (eval/source), dotenv, docker (--env-file), json, github (masked outputs),
    gitlab (dotenv report).
    """
    # lazy: start-up time of the other commands
    from ..credentials._sources import load_credentials
    from ..tokens._consumer import get_token

    credentials = load_credentials(state.settings)
    token = None
    if with_token:
        token = get_token(credentials, state.settings, min_ttl=min_ttl)[0]
    emit_variables(
        output_format, credentials, token, output=output, prefix=prefix, github_env=github_env
    )
