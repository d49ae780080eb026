"""
The registry of output formats, shared by ``emit --format`` and ``token --format``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from .._models import Variable
from ._docker import EMITTER as _DOCKER
from ._dotenv import EMITTER as _DOTENV
from ._github import EMITTER as _GITHUB
from ._gitlab import EMITTER as _GITLAB
from ._json import EMITTER as _JSON
from ._shell import EMITTER as _SHELL
from ._types import Emitter, Rendered

_EMITTERS: tuple[Emitter, ...] = (_SHELL, _DOTENV, _DOCKER, _JSON, _GITHUB, _GITLAB)

#: ``--format`` name → emitter; shared by ``emit --format`` and ``token --format``.
FORMATS: Mapping[str, Emitter] = MappingProxyType({emitter.name: emitter for emitter in _EMITTERS})


def render(fmt: str, variables: Sequence[Variable], *, github_env: bool = False) -> Rendered:
    """
    Return format *fmt*'s output for *variables*, doing no I/O.

    Raises:
        UnsafeValue: naming the first variable the format cannot carry byte-exactly.
        ValueError: for an unknown format, or ``github_env`` with a format but github.
    """
    try:
        emitter = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return emitter.render(variables, github_env=github_env)
