"""
click parameter types for the values users type: durations and service URLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._config import DEFAULT_MIN_TTL, SETTING_BY_FIELD, InvalidSetting, SettingSpec
from .._durations import parse_duration

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


class DurationType(click.ParamType[float]):
    """
    ``90s``, ``15m``, ``12h``, ``30d`` or bare seconds, as a float number of seconds.
    """

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SettingType(click.ParamType[Any]):
    """
    A global setting's option, parsed by the same function as its environment variable.
    """

    def __init__(self, spec: SettingSpec) -> None:
        self.spec = spec
        self.name = spec.field.replace("_", "-")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.spec.convert(value, source=self.spec.option)
        except InvalidSetting as exc:
            self.fail(str(exc.args[0]).removeprefix(f"{self.spec.option}: "), param, ctx)


DURATION = DurationType()


class FormatType(click.ParamType[str]):
    """
    An output format of ``spatiafi_ops.emit.FORMATS`` (plus *extra* names such as ``raw``).

    The registry is imported only when a real format is chosen or help is shown, so that
    ``token`` with its default ``raw`` stays on the fast path.
    """

    name = "format"

    def __init__(self, *, extra: tuple[str, ...] = ()) -> None:
        self.extra = extra

    def choices(self) -> list[str]:
        from ..emit import FORMATS  # lazy: the emitters load when a format is parsed

        return [*self.extra, *FORMATS]

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(self.choices()) + "]"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in self.choices() if name.startswith(incomplete)]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in self.extra or text in self.choices():
            return text
        self.fail(f"{text!r} is not one of {', '.join(self.choices())}", param, ctx)


# Shared by `token` and `emit --with-token`: how long a cached token must still live.
min_ttl_option = click.option(
    "--min-ttl",
    type=DURATION,
    default=DEFAULT_MIN_TTL,
    show_default="60s",
    envvar="SPATIAFI_MIN_TTL",
    show_envvar=True,
    help="Reuse a cached token only if it has at least this long left.",
)


def _apply_credentials_from(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.obj = ctx.obj._replace(settings=ctx.obj.settings._replace(credentials_from=value))


# Shared by `token`, `exec` and `emit`: where the app credentials are read; the setting
# (SPATIAFI_CREDENTIALS_FROM) parsed by the one settings parser, the option overriding it.
credentials_from_option = click.option(
    "--credentials-from",
    type=SettingType(SETTING_BY_FIELD["credentials_from"]),
    callback=_apply_credentials_from,
    expose_value=False,
    metavar="SOURCE",
    help="Read the app credentials from SOURCE: env, env:NAME, file:PATH, profile or "
    "aws-secretsmanager:SECRET-ID  [env: SPATIAFI_CREDENTIALS_FROM; default: env, else "
    "the profile]",
)


def _sinks(ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[Any, ...]:
    import os

    # lazy: the sinks load for the verbs that publish
    from ..sinks._publish import parse_sink, parse_sinks

    allowed = ctx.obj.settings.allow_insecure_transport
    if values:
        return tuple(parse_sink(value, allow_insecure_transport=allowed) for value in values)
    return parse_sinks(os.environ.get("SPATIAFI_PUBLISH", ""), allow_insecure_transport=allowed)


# Shared by every command that changes credentials: where new credentials are published.
publish_option = click.option(
    "--publish",
    "publish",
    multiple=True,
    metavar="SINK",
    callback=_sinks,
    help="Publish new credentials to SINK (command:..., github:OWNER/REPO, "
    "aws-secretsmanager:SECRET-ID); repeatable. The replaced client is revoked only once "
    "every sink has the new one  [env: SPATIAFI_PUBLISH, one sink per line]",
)

forget_sink_option = click.option(
    "--forget-sink",
    "forget_sinks",
    multiple=True,
    metavar="SPEC",
    help="Stop owing the current client to the sink SPEC (as it was given to --publish), so "
    "that the previous client may be revoked without it; repeatable.",
)

exclusive_account_option = click.option(
    "--exclusive-account",
    is_flag=True,
    help="Declare that no other machine creates clients on this account (stored in the "
    "profile): a client left by a lost create answer is then revoked, not only reported.",
)
