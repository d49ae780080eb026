"""
``spatiafi-ops github-action rotate``: the one command actions/rotate runs (hidden: its
interface is the action's inputs, as environment variables, not options).
"""

from __future__ import annotations

import json
import os
import shutil

import click

from .. import _log
from ._root import CliState

log = _log.get_logger("spatiafi_ops.cli")


@click.group("github-action", hidden=True)
def github_action() -> None:
    """
    What the composite actions under actions/ run; their inputs come as environment variables.
    """


@github_action.command()
@click.pass_obj
def rotate(state: CliState) -> None:
    """
    actions/rotate: import the current credentials into a throwaway profile, rotate them when
    due, write the step outputs; the profile is removed however the run ends.
    """
    # Imported when the command runs, as every command's: `--help` lists it without them.
    from .._errors import OutputError, SpatiafiOpsError
    from ..credentials._store import Store
    from ..rotation import RunContext, rotate_credentials
    from ..rotation import _github_action as glue
    from ._output import echo_result
    from ._user import lazy_user

    # First: the current credentials leave the environment before anything can start a child.
    inputs = glue.take_inputs(os.environ, gh_found=shutil.which("gh") is not None)
    if not os.environ.get("GITHUB_OUTPUT"):
        raise OutputError("GITHUB_OUTPUT is not set: the spatiafi-ops actions run only in a job.")
    if inputs.unknown_age:
        log.warning(glue.UNKNOWN_AGE)
    with glue.throwaway_profile(state.settings, os.environ.get("RUNNER_TEMP", "")) as profile:
        glue.import_current(profile, inputs)
        context = RunContext(profile, lazy_user(os.environ.get("SPATIAFI_USERNAME"), False))
        try:
            result = rotate_credentials(context, inputs.policy)
        except SpatiafiOpsError:
            # A failure after the switch (a sink refused) leaves a new client that nothing
            # stores and nothing revokes: name it, as the profile shows it, before it goes.
            click.echo(
                "spatiafi-ops: the profile held these credentials when the rotation failed "
                "(created_at tells whether this run made them):",
                err=True,
            )
            try:
                held = json.dumps(Store(profile).describe(show_secret=False))
            except SpatiafiOpsError as unreadable:
                held = f"(unreadable: {unreadable})"
            click.echo(held, err=True)
            raise
        echo_result(result, "github", secret_from=profile)
