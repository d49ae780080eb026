"""
``spatiafi-ops credentials``: create, show (and provisioning commands) for a profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._output import echo_json, echo_result, result_format_option
from ._params import exclusive_account_option, forget_sink_option, publish_option
from ._root import CliState, LazyGroup
from ._user import lazy_user, user_options

if TYPE_CHECKING:
    from ..sinks._publish import Sink

# ensure / rotate / revoke live in their own module (provisioning, README: Rotation).
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
@forget_sink_option
@exclusive_account_option
@click.option("--force", is_flag=True, help="Replace stored credentials (kept as a backup).")
@click.option(
    "--revoke-old/--keep-old",
    default=False,
    help="With --force: revoke the replaced client at once, or keep it valid and list it "
    "in manual_revoke_client_ids.",
)
@result_format_option
@click.pass_obj
def create(
    state: CliState,
    username: str | None,
    password_stdin: bool,
    publish: tuple[Sink, ...],
    forget_sinks: tuple[str, ...],
    exclusive_account: bool,
    force: bool,
    revoke_old: bool,
    result_format: str,
) -> None:
    """
    Create app credentials and store them in the profile; print the result JSON.

    Journaled like a rotation: a create whose answer is lost is reconciled, and a rerun
    finishes an interrupted create instead of creating a second client.
    """
    # lazy: the rotation engine loads for the verbs that run it
    from ..rotation import Policy, RunContext, create_credentials

    context = RunContext(state.settings, lazy_user(username, password_stdin))
    policy = Policy(
        force=force,
        revoke_old=revoke_old,
        grace=0.0,
        publish=publish,
        forget_sinks=forget_sinks,
        exclusive_account=exclusive_account,
    )
    result = create_credentials(context, policy)
    echo_result(result, result_format, secret_from=state.settings)


@credentials.command()
@click.option("--show-secret", is_flag=True, help="Include the client secret in the output.")
@click.pass_obj
def show(state: CliState, show_secret: bool) -> None:
    """
    Print the stored credentials as JSON, the secret redacted unless asked for.
    """
    from ..credentials._store import Store  # lazy: start-up time of the other commands

    echo_json(Store(state.settings).describe(show_secret=show_secret))


@credentials.command("import")
@click.argument("source", required=False, metavar="[PATH|-]")
@click.option(
    "--created-at",
    metavar="WHEN",
    help="When the credentials were created: ISO 8601 (2024-05-01, 2024-05-01T12:00:00Z), "
    "a time ago (30d, 12h) or now. [default: the file's created_at, else its "
    "modification time, else now]",
)
@click.option("--force", is_flag=True, help="Replace other stored credentials (kept as a backup).")
@exclusive_account_option
@result_format_option
@click.pass_obj
def import_(
    state: CliState,
    source: str | None,
    created_at: str | None,
    force: bool,
    exclusive_account: bool,
    result_format: str,
) -> None:
    """
    Store app credentials that py-spatiafi or the tutorial wrote; print the result JSON.

    Without PATH, adopt the profile's own file in place: made 0600 in a 0700 directory,
    with a created_at. With PATH (app_credentials.json or the tutorial's app_credentials),
    copy it into the profile; with -, read the JSON from standard input.
    """
    import sys
    from pathlib import Path

    # lazy: start-up time of the other commands
    from .._files import harden_process
    from ..credentials._import import import_credentials, parse_created_at

    when = None
    if created_at is not None:
        try:
            when = parse_created_at(created_at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--created-at") from None
    if source == "-" and sys.stdin.isatty():
        raise click.UsageError("standard input is a terminal; pipe the credential JSON in")
    if source == "-":
        harden_process(memory=True)  # a secret that is in no file of ours yet
    origin = sys.stdin.buffer if source == "-" else (Path(source) if source else None)
    result = import_credentials(state.settings, origin, created_at=when, force=force)
    if exclusive_account:
        from ..rotation import declare_exclusive_account  # lazy: only with the option

        declare_exclusive_account(state.settings)
    echo_result(result, result_format, secret_from=state.settings)
