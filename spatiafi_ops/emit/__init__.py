"""
Emit credentials and tokens for every consumer: shell, dotenv, docker, json, github, gitlab.

Rendering is pure (``render``, ``render_<format>``); ``write`` is the one place that
prints, writes ``--output`` files and appends to the GitHub runner's files::

    variables = build_variables(credentials, token, prefix="SPATIAFI_")
    rendered = render("github", variables, github_env=True)
    write(rendered, stdout=sys.stdout)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from .._models import Variable
from ._docker import EMITTER as _DOCKER
from ._docker import render as render_docker
from ._dotenv import EMITTER as _DOTENV
from ._dotenv import render as render_dotenv
from ._github import EMITTER as _GITHUB
from ._github import GitHubEmitter
from ._github import render as render_github
from ._gitlab import EMITTER as _GITLAB
from ._gitlab import render as render_gitlab
from ._json import EMITTER as _JSON
from ._json import render as render_json
from ._shell import EMITTER as _SHELL
from ._shell import render as render_shell
from ._types import Emitter, FileAppend, Notice, Rendered, TextEmitter
from ._variables import DEFAULT_PREFIX, build_variables, check_prefix, github_output_name
from ._writer import find_git_work_tree, write, write_file

__all__ = [
    "DEFAULT_PREFIX",
    "FORMATS",
    "Emitter",
    "FileAppend",
    "GitHubEmitter",
    "Notice",
    "Rendered",
    "TextEmitter",
    "Variable",
    "build_variables",
    "check_prefix",
    "find_git_work_tree",
    "github_output_name",
    "render",
    "render_docker",
    "render_dotenv",
    "render_github",
    "render_gitlab",
    "render_json",
    "render_shell",
    "write",
    "write_file",
]

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
