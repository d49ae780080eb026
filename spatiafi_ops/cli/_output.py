"""
What goes to stdout: only the product, one JSON object or the raw value.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .._models import Variable
from .._redaction import plain_json

if TYPE_CHECKING:
    from .._config import Settings
    from .._models import ProvisionResult


def echo_json(data: Any) -> None:
    """
    Print *data* as one line of JSON on stdout, with no command a CI runner would obey in
    it (strings from the service reach it: warnings, a user id).
    """
    click.echo(plain_json(json.dumps(data, sort_keys=False)))


def flush_stdout() -> None:
    """
    Flush stdout now, so that a full disk or a closed pipe is reported by the error
    boundary, not at interpreter exit.
    """
    if sys.stdout is not None:
        sys.stdout.flush()


def discard_stdout() -> None:
    """
    Point stdout at the null device after a write to it failed.

    What is still buffered would fail again when the interpreter flushes it at exit, and
    Python would print "Exception ignored" and exit 120 (its documented SIGPIPE recipe).
    """
    with contextlib.suppress(AttributeError, OSError, ValueError, io.UnsupportedOperation):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


# Actions whose run put a newly created client in place (the `rotated` step output).
_NEW_CLIENT_ACTIONS = ("created", "replaced", "rotated")


def _require_github_output(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """
    Refuse ``--format github`` before the command changes anything unless ``GITHUB_OUTPUT``
    can be appended to: the outputs (the new secret among them) would have nowhere to go.
    """
    if value == "github":
        from ..emit._writer import check_runner_file  # lazy: the emitters load for github only

        check_runner_file("GITHUB_OUTPUT", os.environ)
    return value


# Shared by the verbs that print a result (create, ensure, rotate, revoke, import).
result_format_option = click.option(
    "--format",
    "result_format",
    type=click.Choice(["json", "github"]),
    default="json",
    show_default=True,
    callback=_require_github_output,
    help="json: the result JSON on stdout. github: the result as step outputs in "
    "$GITHUB_OUTPUT (kebab-case; client-secret masked first), nothing else on stdout.",
)


def result_variables(result: ProvisionResult, client_secret: str | None) -> tuple[Variable, ...]:
    """
    Return a result as GitHub step outputs; *client_secret* (the only secret) is added
    when given.

    The variables carry the outputs' own kebab-case names: ``PREVIOUS_CLIENT_ID`` would be
    written as ``client-id`` by the suffix rule of ``emit.github_output_name``.
    """
    data = result.to_dict()
    values = {
        "action": result.action,
        "rotated": "true" if result.action in _NEW_CLIENT_ACTIONS else "false",
        "client-id": result.client_id or "",
        "previous-client-id": result.previous_client_id or "",
        "created-at": data["created_at"] or "",
        "revoked-client-ids": ",".join(result.revoked_client_ids),
        "manual-revoke-client-ids": ",".join(result.manual_revoke_client_ids),
        # A sink spec may hold a comma (command:...), never a line break: one per line,
        # as in SPATIAFI_PUBLISH.
        "published": "\n".join(result.published),
    }
    variables = [Variable(name, value, secret=False) for name, value in values.items()]
    if client_secret is not None:
        variables.append(Variable("client-secret", client_secret, secret=True))
    return tuple(variables)


def echo_result(
    result: ProvisionResult, result_format: str, *, secret_from: Settings | None = None
) -> None:
    """
    Print *result* in *result_format*: its JSON on stdout, or GitHub step outputs.

    With *secret_from* (the verbs that leave the profile with credentials), the github
    format adds ``client-secret``, read from that profile's store when it holds the
    result's client, so that later steps of the job can use the new credentials.
    """
    if result_format == "json":
        echo_json(result.to_dict())
        return
    from .. import emit  # lazy: the emitters load when there is something to emit

    client_secret = None
    if secret_from is not None and result.client_id is not None:
        from ..credentials._store import Store  # lazy: only with --secret-from

        stored = Store(secret_from).read()
        if stored is not None and stored.client_id == result.client_id:
            client_secret = stored.client_secret
    rendered = emit.render("github", result_variables(result, client_secret))
    emit.write(rendered, stdout=sys.stdout, environ=os.environ)
