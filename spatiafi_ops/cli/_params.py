"""
click parameter types for the values users type: durations and service URLs.
"""

from __future__ import annotations

from typing import Any

import click

from .._config import normalize_auth_url
from .._durations import parse_duration


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


class UrlType(click.ParamType[str]):
    """
    An http(s) base URL, returned without a trailing slash.
    """

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return normalize_auth_url(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()
URL = UrlType()
