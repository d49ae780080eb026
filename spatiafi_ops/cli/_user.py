"""
Where a person's username and password come from: env, stdin or a TTY prompt (README: The CLI).

Never argv: a command line is visible to every process on the host.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .._errors import LoginRequired
from .._files import harden_process
from .._models import UserLogin

F = TypeVar("F", bound=Callable[..., Any])


def user_options(command: F) -> F:
    """
    Add ``--username`` and ``--password-stdin`` to *command*.
    """
    command = click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of stdin (never from argv).",
    )(command)
    return click.option(
        "--username",
        envvar="SPATIAFI_USERNAME",
        show_envvar=True,
        help="SpatiaFi account email.",
    )(command)


def resolve_user(username: str | None, password_stdin: bool) -> UserLogin:
    """
    Return the user's login from the documented sources.

    A login source of the rotation engine: it raises only the package's ``LoginRequired``
    (a usage error, exit 2), so a fleet run reports it per profile with the same code.
    """
    harden_process(memory=True)  # the password is in no file of ours: keep it in here
    password: str | None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = os.environ.get("SPATIAFI_PASSWORD")
    interactive = sys.stdin.isatty() and not password_stdin
    if not username and interactive:
        username = click.prompt("Username", err=True)
    if password is None and interactive:
        password = click.prompt("Password", hide_input=True, err=True)
    if not username:
        raise LoginRequired(
            "no username: set SPATIAFI_USERNAME or pass --username (or run on a terminal)"
        )
    if not password:
        raise LoginRequired(
            "no password, or an empty one: set SPATIAFI_PASSWORD or pipe it with "
            "--password-stdin (or run on a terminal)"
        )
    return UserLogin(username=username, password=password)


def lazy_user(username: str | None, password_stdin: bool) -> Callable[[], UserLogin]:
    """
    Return a login source that asks only when a run needs the service's user routes.
    """
    return lambda: resolve_user(username, password_stdin)
