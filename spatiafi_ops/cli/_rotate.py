"""
``credentials ensure | rotate | revoke``: thin commands over the provisioning library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .._models import check_client_id
from ._exit import exit_code_for
from ._output import echo_json, echo_result, result_format_option
from ._params import DURATION, exclusive_account_option, forget_sink_option, publish_option
from ._root import CliState
from ._user import lazy_user, user_options

if TYPE_CHECKING:
    from ..sinks._publish import Sink

DEFAULT_MAX_AGE = "30d"
DEFAULT_GRACE = "1h"


def _check_client_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_client_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _wait_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--wait",
        type=DURATION,
        default=0.0,
        metavar="SECONDS",
        help="Wait up to this long for another run's lock (then exit 5) instead of "
        "exiting 0 at once.",
    )(command)


def _dry_run_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--dry-run", is_flag=True, help="Print the planned actions; write nothing anywhere."
    )(command)


@click.command()
@user_options
@publish_option
@forget_sink_option
@exclusive_account_option
@_dry_run_option
@click.option(
    "--wait",
    type=DURATION,
    default=None,
    metavar="SECONDS",
    help="Wait up to this long for another run's lock, then exit 5  [default: --deadline].",
)
@result_format_option
@click.pass_obj
def ensure(
    state: CliState,
    username: str | None,
    password_stdin: bool,
    publish: tuple[Sink, ...],
    forget_sinks: tuple[str, ...],
    exclusive_account: bool,
    dry_run: bool,
    wait: float | None,
    result_format: str,
) -> None:
    """
    Make sure the profile holds credentials that mint a token; print the result JSON.

    Working credentials cost one token request and change nothing; missing ones are
    created, rejected ones replaced (the old file kept in the profile's backups).
    """
    # lazy: the rotation engine loads for the verbs that run it
    from ..rotation import Policy, RunContext, ensure_credentials

    context = RunContext(state.settings, lazy_user(username, password_stdin))
    policy = Policy(
        dry_run=dry_run,
        wait=wait,
        publish=publish,
        forget_sinks=forget_sinks,
        exclusive_account=exclusive_account,
    )
    result = ensure_credentials(context, policy)
    echo_result(result, result_format, secret_from=state.settings)


@click.command()
@user_options
@publish_option
@forget_sink_option
@click.option(
    "--max-age",
    type=DURATION,
    default=DEFAULT_MAX_AGE,
    help="Rotate only credentials at least this old.",
)
@click.option(
    "--grace",
    type=DURATION,
    default=DEFAULT_GRACE,
    help="Keep the old client valid this long after the switch (revoked by a later run).",
)
@click.option(
    "--revoke-old/--keep-old",
    default=True,
    help="Revoke the old client once the grace period is over, where the service can.",
)
@_dry_run_option
@_wait_option
@click.option("--all-profiles", is_flag=True, help="Rotate every profile in the config dir.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    help="Profiles rotated at once with --all-profiles.",
)
@result_format_option
@click.pass_context
def rotate(
    ctx: click.Context,
    username: str | None,
    password_stdin: bool,
    publish: tuple[Sink, ...],
    forget_sinks: tuple[str, ...],
    max_age: float,
    grace: float,
    revoke_old: bool,
    dry_run: bool,
    wait: float,
    all_profiles: bool,
    concurrency: int,
    result_format: str,
) -> None:
    """
    Replace the profile's credentials safely once they reach --max-age; print the result.

    Create, journal, verify, switch, then revoke the old client after --grace. A run
    killed at any point is finished by the next one. If another run holds the profile's
    lock, exit 0 at once (or wait with --wait).
    """
    # lazy: the rotation engine loads for the verbs that run it
    from ..rotation import (
        Policy,
        RunContext,
        fleet_summary,
        rotate_all_profiles,
        rotate_credentials,
    )

    state = ctx.find_object(CliState)
    assert state is not None
    if all_profiles and result_format != "json":
        raise click.UsageError(
            "--all-profiles prints one summary of every profile: use --format json"
        )
    context = RunContext(state.settings, lazy_user(username, password_stdin))
    policy = Policy(
        max_age=max_age,
        grace=grace,
        revoke_old=revoke_old,
        dry_run=dry_run,
        wait=wait,
        publish=publish,
        forget_sinks=forget_sinks,
    )
    if not all_profiles:
        result = rotate_credentials(context, policy)
        echo_result(result, result_format, secret_from=state.settings)
        return
    outcomes = rotate_all_profiles(context, policy, concurrency=concurrency)
    summary = fleet_summary(outcomes)
    codes = [exit_code_for(o.error) for o in outcomes if o.error is not None]
    for entry, outcome in zip(summary["profiles"], outcomes, strict=True):
        if outcome.error is not None:
            entry["exit_code"] = exit_code_for(outcome.error)
    echo_json(summary)
    if codes:
        # The first failing profile (in name order) decides the documented exit code.
        ctx.exit(codes[0])


@click.command()
@user_options
@click.argument("client_id", callback=_check_client_id)
@click.option(
    "--force",
    is_flag=True,
    help="Also revoke a client this profile or another one stores, or that an owed sink "
    "may still serve.",
)
@result_format_option
@click.pass_obj
def revoke(
    state: CliState,
    username: str | None,
    password_stdin: bool,
    client_id: str,
    force: bool,
    result_format: str,
) -> None:
    """
    Revoke CLIENT_ID at the service, where it supports that; print the result JSON.

    Refuses, unless --force: the profile's current credential, a client another profile
    stores, and one an owed sink may still serve. An id that the service does not list
    and this profile never held exits 5 ("no such client").
    """
    # lazy: the rotation engine loads for the verbs that run it
    from ..rotation import Policy, RunContext, revoke_credentials

    context = RunContext(state.settings, lazy_user(username, password_stdin))
    result = revoke_credentials(context, client_id, Policy(force=force))
    echo_result(result, result_format)
