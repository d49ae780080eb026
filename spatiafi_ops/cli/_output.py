"""
What goes to stdout: only the product, one JSON object or the raw value.
"""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(data: Any) -> None:
    """
    Print *data* as one line of JSON on stdout.
    """
    click.echo(json.dumps(data, sort_keys=False))
