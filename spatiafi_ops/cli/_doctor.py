"""
``spatiafi-ops doctor``: a verdict per check, and a non-zero exit when something is wrong.
"""

from __future__ import annotations

import click

from .._redaction import plain_line, scrub
from ._output import echo_json
from ._root import CliState


@click.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per check; json: a list of checks.",
)
@click.pass_obj
def doctor(state: CliState, output_format: str) -> None:
    """
    Check configuration, file permissions, proxies, reachability, clock skew against the
    service's Date header, and whether the credentials mint. Exits with the code of the
    first failure (3 rejected, 4 unreachable, 5 local), 0 when all is well.
    """
    from .._doctor import run_checks  # requests: only when doctor runs

    # A detail may quote the service's error body: scrub it like any error we print.
    checks = [check._replace(detail=scrub(check.detail)) for check in run_checks(state.settings)]
    if output_format == "json":
        echo_json([check._asdict() for check in checks])
    else:
        for check in checks:
            # Text from the network must not drive the terminal nor a CI runner.
            click.echo(f"{check.verdict.upper():<4}  {check.name:<13} {plain_line(check.detail)}")
    failures = [check.exit_code for check in checks if check.verdict == "fail"]
    if failures:
        raise click.exceptions.Exit(failures[0])
