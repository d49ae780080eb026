"""
The ``json`` format: one JSON object of name → value, for programs.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import check_unicode, json_object
from ._types import TextEmitter
from ._variables import check_unique


def render(variables: Sequence[Variable]) -> str:
    """
    Return ``{"NAME": "value", ...}`` and a newline.

    Raises:
        UnsafeValue: for a name given twice or text with no UTF-8 encoding.
    """
    check_unique((variable.name for variable in variables), "json")
    for variable in variables:
        check_unicode(variable.name, variable.value, "json")
    return json_object((variable.name, variable.value) for variable in variables)


EMITTER = TextEmitter("json", "one JSON object of name to value", render)
