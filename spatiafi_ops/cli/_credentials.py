"""
``spatiafi-ops credentials``: create, show (and provisioning commands) for a profile.
"""

from __future__ import annotations

import click

from ._output import echo_json
from ._root import CliState, LazyGroup
from ._user import resolve_user, user_options

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
@click.option("--force", is_flag=True, help="Replace stored credentials (kept as a backup).")
@click.pass_obj
def create(state: CliState, username: str | None, password_stdin: bool, force: bool) -> None:
    """
    Create app credentials and store them in the profile; print the result JSON.
    """
    from .._provisioning import create_credentials

    user = resolve_user(username, password_stdin)
    result = create_credentials(state.settings, user, force=force)
    echo_json(result.to_dict())


@credentials.command()
@click.option("--show-secret", is_flag=True, help="Include the client secret in the output.")
@click.pass_obj
def show(state: CliState, show_secret: bool) -> None:
    """
    Print the stored credentials as JSON, the secret redacted unless asked for.
    """
    from .._store import Store

    echo_json(Store(state.settings).describe(show_secret=show_secret))
