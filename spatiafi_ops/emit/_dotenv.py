"""
The ``dotenv`` format: ``NAME='value'`` lines that python-dotenv and ``sh`` read alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import SHELL_HAZARD_NAMES, dotenv_quote
from ._types import TextEmitter
from ._variables import render_lines


def render(variables: Sequence[Variable]) -> str:
    """
    Return one ``NAME=<quoted value>`` line per variable, quoted so that python-dotenv
    (parser.py) and sh both read the value back byte for byte.

    No ``export`` keyword: ``docker compose`` and ``set -a; . ./file`` need none.

    Raises:
        UnsafeValue: for a bad name or a value no quoting carries (NUL, CR, ``${...}``, ...).
    """
    return render_lines(
        variables,
        "dotenv",
        lambda v: f"{v.name}={dotenv_quote(v.name, v.value)}\n",
        hazards=SHELL_HAZARD_NAMES,
    )


EMITTER = TextEmitter(
    "dotenv", "NAME='value' lines for python-dotenv, docker compose and set -a; . file", render
)
