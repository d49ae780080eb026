"""
Where a person's username and password come from: env, stdin or a TTY prompt (SPEC §3).

Never argv: a command line is visible to every process on the host.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

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
    Return the user's login from the documented sources, or fail with a usage error.
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
        raise click.UsageError(
            "no username: set SPATIAFI_USERNAME or pass --username (or run on a terminal)"
        )
    if not password:
        raise click.UsageError(
            "no password, or an empty one: set SPATIAFI_PASSWORD or pipe it with "
            "--password-stdin (or run on a terminal)"
        )
    return UserLogin(username=username, password=password)
