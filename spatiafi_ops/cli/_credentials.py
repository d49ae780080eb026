"""
``spatiafi-ops credentials``: create, show (and provisioning commands) for a profile.
"""

from __future__ import annotations

import click

from .._models import format_timestamp
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

    store = Store(state.settings)
    stored = store.require()
    echo_json(
        {
            "profile": store.profile,
            "path": str(store.paths.credentials),
            "user_id": stored.user_id,
            "client_id": stored.client_id,
            "client_secret": stored.client_secret if show_secret else "**redacted**",
            "created_at": format_timestamp(stored.created_at) if stored.created_at else None,
            "auth_url": stored.auth_url,
        }
    )
