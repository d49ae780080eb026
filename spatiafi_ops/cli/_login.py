"""
``spatiafi-ops login``: a 15-minute user token via HTTP Basic.
"""

from __future__ import annotations

import click

from ._output import echo_json
from ._root import CliState
from ._user import resolve_user, user_options


@click.command()
@user_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["raw", "json"]),
    default="raw",
    help="raw: the token alone; json: the service's response.",
)
@click.pass_obj
def login(state: CliState, username: str | None, password_stdin: bool, output_format: str) -> None:
    """
    Print a user token (15 minutes), for scripts that create credentials themselves.
    """
    # requests: only when login runs
    from .._api import user_token
    from .._http import Deadline, HttpClient
    from ..credentials._store import Store

    user = resolve_user(username, password_stdin)
    settings = Store(state.settings).resolved_settings()
    with HttpClient.for_settings(settings, Deadline(settings.deadline)) as http:
        token = user_token(http, settings.url, user.username, user.password)
    if output_format == "json":
        echo_json(
            {
                "access_token": token.value,
                "token_type": token.token_type,
                "expires_at": int(token.expires_at),
            }
        )
    else:
        click.echo(token.value)
