"""
``spatiafi-ops credentials``: create, show (and provisioning commands) for a profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._output import echo_json
from ._params import publish_option
from ._root import CliState, LazyGroup
from ._user import lazy_user, user_options

if TYPE_CHECKING:
    from .._publish import Sink

# ensure / rotate / revoke live in their own module (provisioning, SPEC §5).
PROVISIONING_COMMANDS = {
    name: f"spatiafi_ops.cli._rotate:{name}" for name in ("ensure", "revoke", "rotate")
}


@click.group(cls=LazyGroup, lazy_commands=PROVISIONING_COMMANDS)
def credentials() -> None:
    """
    Create, inspect, ensure, rotate and revoke the profile's app credentials.
    """


@credentials.command()
@user_options
@publish_option
@click.option("--force", is_flag=True, help="Replace stored credentials (kept as a backup).")
@click.option(
    "--revoke-old/--keep-old",
    default=False,
    help="With --force: revoke the replaced client at once, or keep it valid and list it "
    "in manual_revoke_client_ids.",
)
@click.pass_obj
def create(
    state: CliState,
    username: str | None,
    password_stdin: bool,
    publish: tuple[Sink, ...],
    force: bool,
    revoke_old: bool,
) -> None:
    """
    Create app credentials and store them in the profile; print the result JSON.

    Journaled like a rotation: a create whose answer is lost is reconciled, and a rerun
    finishes an interrupted create instead of creating a second client.
    """
    from ..rotation import Policy, RunContext, create_credentials

    context = RunContext(state.settings, lazy_user(username, password_stdin))
    policy = Policy(force=force, revoke_old=revoke_old, grace=0.0, publish=publish)
    echo_json(create_credentials(context, policy).to_dict())


@credentials.command()
@click.option("--show-secret", is_flag=True, help="Include the client secret in the output.")
@click.pass_obj
def show(state: CliState, show_secret: bool) -> None:
    """
    Print the stored credentials as JSON, the secret redacted unless asked for.
    """
    from .._store import Store

    echo_json(Store(state.settings).describe(show_secret=show_secret))
