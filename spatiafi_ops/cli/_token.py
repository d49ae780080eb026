"""
``spatiafi-ops token``: an access token from app credentials, from the cache when it can.

This is the hot path: a cache hit in ``raw`` format imports neither requests, authlib,
tenacity nor structlog, and not the emitters.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import click

from .._config import Settings
from .._models import AccessToken
from ._emit import emit_variables, output_options
from ._params import FormatType, credentials_from_option, min_ttl_option
from ._root import CliState


@contextlib.contextmanager
def _kept_for_good(own_process: bool) -> Iterator[None]:
    """
    Keep what is loaded inside out of the cyclic collector's sight: a miss imports
    requests and authlib, objects that live as long as the process, which the collector
    would walk again and again (some 6 % of a miss, make bench). Only in a process of our
    own: the collector is a host's to tune. Reference counting still frees the rest.
    """
    if not own_process:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def current_token(
    settings: Settings, *, min_ttl: float, use_cache: bool, own_process: bool
) -> AccessToken:
    """
    Return a token minted with the app credentials, from the cache when it can:
    the one place where `token` and `exec` find their credentials.
    """
    from ..tokens._consumer import token_from_source  # lazy: start-up time of the other commands

    with _kept_for_good(own_process):
        return token_from_source(settings, min_ttl=min_ttl, use_cache=use_cache)[0]


@click.command()
@click.option(
    "--format",
    "output_format",
    type=FormatType(extra=("raw",)),
    default="raw",
    show_default=True,
    help="raw: the token alone; or a format of `emit`, for the token's variables.",
)
@min_ttl_option
@credentials_from_option
@click.option(
    "--no-cache", is_flag=True, help="Mint a new token; neither read nor write the cache."
)
@output_options
@click.pass_obj
def token(
    state: CliState,
    output_format: str,
    min_ttl: float,
    no_cache: bool,
    output: str | None,
    prefix: str,
    github_env: bool,
) -> None:
    """
    Print an access token minted with the app credentials (SPATIAFI_CLIENT_ID and
    SPATIAFI_CLIENT_SECRET, else the profile's), reusing a cached one when it can.
    """
    access_token = current_token(
        state.settings, min_ttl=min_ttl, use_cache=not no_cache, own_process=state.own_process
    )
    if output_format != "raw":
        emit_variables(
            output_format, None, access_token, output=output, prefix=prefix, github_env=github_env
        )
    elif output in (None, "-"):
        click.echo(access_token.value)
    else:
        from ..emit import write_file  # lazy: only with --output FILE

        write_file(output, access_token.value + "\n")
