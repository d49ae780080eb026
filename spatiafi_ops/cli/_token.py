"""
``spatiafi-ops token``: an access token from app credentials, from the cache when it can.

This is the hot path: a cache hit must not import requests, authlib, tenacity or structlog.
"""

from __future__ import annotations

import click

from .._config import DEFAULT_MIN_TTL
from ._params import DURATION
from ._root import CliState


@click.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["raw", "json"]),
    default="raw",
    show_default=True,
    help="raw: the token alone on stdout; json: token, type and expiry.",
)
@click.option(
    "--min-ttl",
    type=DURATION,
    default=DEFAULT_MIN_TTL,
    show_default="60s",
    envvar="SPATIAFI_MIN_TTL",
    show_envvar=True,
    help="Reuse a cached token only if it has at least this long left.",
)
@click.option("--no-cache", is_flag=True, help="Always mint a new token; do not read or write the cache.")
@click.pass_obj
def token(state: CliState, output_format: str, min_ttl: float, no_cache: bool) -> None:
    """
    Print an access token minted with the app credentials (SPATIAFI_CLIENT_ID and
    SPATIAFI_CLIENT_SECRET, else the profile's), reusing a cached one when it can.
    """
    from .._store import load_credentials
    from .._token_cache import get_token

    credentials = load_credentials(state.settings)
    access_token, _cached = get_token(
        credentials, state.settings, min_ttl=min_ttl, use_cache=not no_cache
    )
    if output_format == "json":
        from ._output import echo_json

        echo_json(
            {
                "access_token": access_token.value,
                "token_type": access_token.token_type,
                "expires_at": int(access_token.expires_at),
            }
        )
    else:
        click.echo(access_token.value)
