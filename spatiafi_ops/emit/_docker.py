"""
The ``docker`` format: raw ``NAME=value`` lines for ``docker run --env-file``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import check_name, check_unicode, docker_line
from ._types import TextEmitter
from ._variables import check_unique


def render(variables: Sequence[Variable]) -> str:
    """
    Return one unquoted ``NAME=value`` line per variable (reference §4.2, K1).

    Raises:
        UnsafeValue: for a bad name, a newline, a trailing CR or an over-long line.
    """
    check_unique((variable.name for variable in variables), "docker")
    lines = []
    for variable in variables:
        check_unicode(variable.name, variable.value, "docker")
        check_name(variable.name, "docker")
        lines.append(docker_line(variable.name, variable.value))
    return "".join(lines)


EMITTER = TextEmitter("docker", "raw NAME=value lines for docker run --env-file", render)
