"""
The ``shell`` format: ``export NAME='value'`` lines for ``eval "$(...)"`` and ``source``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import SHELL_HAZARD_NAMES, shell_quote
from ._types import TextEmitter
from ._variables import render_lines


def render(variables: Sequence[Variable]) -> str:
    """
    Return one ``export NAME='value'`` line per variable (README: Output formats).

    Raises:
        UnsafeValue: for a bad name or a value holding NUL.
    """
    return render_lines(
        variables,
        "shell",
        lambda v: f"export {v.name}={shell_quote(v.name, v.value)}\n",
        hazards=SHELL_HAZARD_NAMES,
    )


EMITTER = TextEmitter(
    "shell", "export NAME='value' lines for eval or source (bash, dash, zsh)", render
)
