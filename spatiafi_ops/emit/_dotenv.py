"""
The ``dotenv`` format: ``NAME='value'`` lines that python-dotenv and ``sh`` read alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import SHELL_HAZARD_NAMES, check_name, check_unicode, dotenv_quote
from ._types import TextEmitter
from ._variables import check_unique


def render(variables: Sequence[Variable]) -> str:
    """
    Return one ``NAME=<quoted value>`` line per variable, in reference §4.4's scheme.

    No ``export`` keyword: ``docker compose`` and ``set -a; . ./file`` need none.

    Raises:
        UnsafeValue: for a bad name or a value no quoting carries (NUL, CR, ``${...}``, ...).
    """
    check_unique((variable.name for variable in variables), "dotenv")
    lines = []
    for variable in variables:
        check_unicode(variable.name, variable.value, "dotenv")
        check_name(variable.name, "dotenv", hazards=SHELL_HAZARD_NAMES)
        lines.append(f"{variable.name}={dotenv_quote(variable.name, variable.value)}\n")
    return "".join(lines)


EMITTER = TextEmitter(
    "dotenv", "NAME='value' lines for python-dotenv, docker compose and set -a; . file", render
)
