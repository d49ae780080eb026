"""
``spatiafi-ops emulator``: run the local SpatiaFi Auth API emulator (docs/emulator.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import sys
import threading
from types import FrameType

import click

from .. import _log
from ..emulator import DEFAULT_USER, EmulatorConfig, EmulatorHandle, Fault, User, serve
from ._exit import EXIT_LOCAL_STATE, EXIT_USAGE
from ._root import CommandFailed

DESCRIPTORS = 10_240
FAULT_HELP = (
    "Inject a fault: comma-separated settings, e.g. 'route=token,status=503,probability=0.3', "
    "'route=token,drop,times=2', 'route=clients,status=502,after', '429'. Keys: route "
    "(*, basic, token, clients, list-clients, delete-client, me, or 'METHOD /path'), "
    "status=CODE, drop, reset, truncate, latency=SECONDS, probability=P, times=N, "
    "retry_after=SECONDS, after. Repeatable."
)


def _faults(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Fault]:
    try:
        return [Fault.parse(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _latencies(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Fault]:
    faults = []
    for value in values:
        route, sep, seconds = value.rpartition("=")
        try:
            faults.append(
                Fault(route=route if sep else "*", kind="latency", latency=float(seconds))
            )
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r} is not [ROUTE=]SECONDS: {exc}", ctx, param
            ) from None
    return faults


def _users(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        email, sep, password = value.partition(":")
        if not sep or not email or not password:
            raise click.BadParameter(f"{value!r} is not EMAIL:PASSWORD", ctx, param)
        pairs.append((email, password))
    return pairs


def _configure_logging(access_log: bool) -> None:
    """
    Log through the CLI's own pipeline (--log-format, --log-level): one line per request
    at info level, unless the access log is off.
    """
    import os

    from ._root import CliState  # sideways: _root loads this module lazily (LAZY_COMMANDS)

    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx is not None else None
    if state is not None:
        log_format, level = state.log_format, state.log_level
    else:  # `python -m spatiafi_ops.cli._emulator serve`
        log_format, level = _log.resolve(
            "auto", "info", isatty=sys.stderr.isatty, environ=os.environ
        )
    _log.set_configurator(None)  # before the import: it asks for loggers
    from .. import _logging  # structlog: only when the emulator logs

    _logging.configure(log_format=log_format, level=level)
    log = logging.getLogger("spatiafi_ops.emulator")
    shown = logging.INFO if access_log else logging.WARNING
    log.setLevel(logging.DEBUG if level == "debug" else shown)
    log.propagate = True


@click.group(name="emulator")
def emulator() -> None:
    """
    Run the local SpatiaFi Auth API emulator (for demos and tests; not the real service).
    """


@emulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to bind; 0 picks a free one. The base URL is printed on stdout first.",
)
@click.option("--issuer", help="Public base URL, when clients reach it through another address.")
@click.option("--seed", type=int, help="Seed of the fault dice, for a reproducible run.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC", callback=_faults, help=FAULT_HELP)
@click.option(
    "--latency",
    "latencies",
    callback=_latencies,
    multiple=True,
    metavar="[ROUTE=]SECONDS",
    help="Delay every request (or those of ROUTE) by SECONDS. Repeatable.",
)
@click.option(
    "--client-management/--no-client-management",
    default=True,
    show_default=True,
    help="Serve the optional GET /api/v1/clients/ and DELETE /api/v1/clients/{id}.",
)
@click.option(
    "--user",
    "users",
    callback=_users,
    multiple=True,
    metavar="EMAIL:PASSWORD",
    help="Add an active user (test accounts only: argv is visible). Repeatable.",
)
@click.option(
    "--inactive-user",
    "inactive_users",
    callback=_users,
    multiple=True,
    metavar="EMAIL:PASSWORD",
    help="Add an inactive user, who cannot log in. Repeatable.",
)
@click.option(
    "--default-user/--no-default-user",
    default=True,
    show_default=True,
    help=f"Seed the tutorial's user {DEFAULT_USER.email}.",
)
@click.option(
    "--lenient-client-auth",
    is_flag=True,
    help="Also accept client_secret_basic, client_secret_post and grant_type=password on "
    "the token route (default: only client_secret_jwt, as the official client sends).",
)
@click.option(
    "--clock-offset",
    type=float,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Run the emulated clock SECONDS ahead of this machine's (negative: behind); "
    "Date headers, tokens and assertion checks all follow it.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (method, path, status) to stderr.",
)
def serve_command(
    host: str,
    port: int,
    issuer: str | None,
    seed: int | None,
    faults: list[Fault],
    latencies: list[Fault],
    client_management: bool,
    users: list[tuple[str, str]],
    inactive_users: list[tuple[str, str]],
    default_user: bool,
    lenient_client_auth: bool,
    clock_offset: float,
    access_log: bool,
) -> None:
    """
    Serve the emulator until SIGINT or SIGTERM; print its base URL on stdout first.
    """
    seeded = [DEFAULT_USER] if default_user else []
    seeded += [User(email, password) for email, password in users]
    seeded += [User(email, password, is_active=False) for email, password in inactive_users]
    try:
        config = EmulatorConfig(
            host=host,
            port=port,
            issuer=issuer.rstrip("/") if issuer else None,
            users=tuple(seeded),
            client_management=client_management,
            faults=(*latencies, *faults),
            seed=seed,
            lenient_client_auth=lenient_client_auth,
            clock_offset=clock_offset,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--clock-offset'") from None
    _configure_logging(access_log)
    _raise_descriptor_limit()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)

    def _ready(handle: EmulatorHandle) -> None:
        click.echo(handle.url)
        sys.stdout.flush()

    try:
        serve(config, ready=_ready, stop=stop)
    except OSError as exc:
        raise _bind_failure(exc, host, port) from None


def _raise_descriptor_limit() -> None:
    """
    Let this process hold as many connections as the emulator takes (10,000), within the
    hard limit: the soft limit of 1,024 that most systems start with only protects
    programs that use select(), and the emulator uses epoll or kqueue there. Past the
    limit, the emulator drops its longest-waiting connections to take new ones.
    """
    if sys.platform != "win32":  # Windows has no such limit; the server caps select() there
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, DESCRIPTORS)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            with contextlib.suppress(OSError, ValueError):  # best effort (macOS caps it lower)
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _bind_failure(exc: OSError, host: str, port: int) -> CommandFailed:
    """
    Return the one-line failure for a socket that cannot be bound: 2 when the address is
    wrong for this machine, 5 when the port is taken or forbidden here.
    """
    if isinstance(exc, socket.gaierror):
        return CommandFailed(
            f"--host {host!r} is not an address or a name this machine resolves", EXIT_USAGE
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return CommandFailed(
            f"--host {host} is not an address of this machine; use 127.0.0.1, one of its "
            "own addresses, or 0.0.0.0 for all of them",
            EXIT_USAGE,
        )
    if exc.errno == errno.EADDRINUSE:
        return CommandFailed(
            f"port {port} on {host} is already in use; stop what holds it or choose another "
            "--port (0 picks a free one)",
            EXIT_LOCAL_STATE,
        )
    return CommandFailed(
        f"cannot serve on {host} port {port}: {exc.strerror or exc}", EXIT_LOCAL_STATE
    )


if __name__ == "__main__":  # pragma: no cover - `python -m spatiafi_ops.cli._emulator serve`
    emulator()
