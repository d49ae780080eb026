"""
The ``shell`` format: ``export NAME='value'`` lines for ``eval "$(...)"`` and ``source``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import SHELL_HAZARD_NAMES, check_name, check_unicode, shell_quote
from ._types import TextEmitter
from ._variables import check_unique


def render(variables: Sequence[Variable]) -> str:
    """
    Return one ``export NAME='value'`` line per variable (SPEC §4).

    Raises:
        UnsafeValue: for a bad name or a value holding NUL.
    """
    check_unique((variable.name for variable in variables), "shell")
    lines = []
    for variable in variables:
        check_unicode(variable.name, variable.value, "shell")
        check_name(variable.name, "shell", hazards=SHELL_HAZARD_NAMES)
        lines.append(f"export {variable.name}={shell_quote(variable.name, variable.value)}\n")
    return "".join(lines)


EMITTER = TextEmitter(
    "shell", "export NAME='value' lines for eval or source (bash, dash, zsh)", render
)
