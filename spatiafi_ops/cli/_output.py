"""
What goes to stdout: only the product, one JSON object or the raw value.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from typing import Any

import click


def echo_json(data: Any) -> None:
    """
    Print *data* as one line of JSON on stdout.
    """
    click.echo(json.dumps(data, sort_keys=False))


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
