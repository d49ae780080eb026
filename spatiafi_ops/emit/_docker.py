"""
The ``docker`` format: raw ``NAME=value`` lines for ``docker run --env-file``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import docker_line
from ._types import TextEmitter
from ._variables import render_lines


def render(variables: Sequence[Variable]) -> str:
    """
    Return one unquoted ``NAME=value`` line per variable (docker/cli opts/file.go).

    Raises:
        UnsafeValue: for a bad name, a newline, a trailing CR or an over-long line.
    """
    return render_lines(variables, "docker", lambda v: docker_line(v.name, v.value))


EMITTER = TextEmitter("docker", "raw NAME=value lines for docker run --env-file", render)
