"""
Emit credentials and tokens for every consumer: shell, dotenv, docker, json, github, gitlab.

Rendering is pure (``render``, ``render_<format>``); ``write`` is the one place that
prints, writes ``--output`` files and appends to the GitHub runner's files::

    variables = build_variables(credentials, token, prefix="SPATIAFI_")
    rendered = render("github", variables, github_env=True)
    write(rendered, stdout=sys.stdout)

Names load lazily, as the package root's do: ``spatiafi-ops exec`` needs only
``build_variables``, not every format (make bench).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._models import Variable
    from ._docker import render as render_docker
    from ._dotenv import render as render_dotenv
    from ._formats import FORMATS, render
    from ._github import GitHubEmitter
    from ._github import render as render_github
    from ._gitlab import render as render_gitlab
    from ._json import render as render_json
    from ._shell import render as render_shell
    from ._types import Emitter, FileAppend, Notice, Rendered, TextEmitter
    from ._variables import DEFAULT_PREFIX, build_variables, check_prefix, github_output_name
    from ._writer import find_git_work_tree, write, write_file

# name -> (module, attribute in it)
_EXPORTS = {
    "DEFAULT_PREFIX": ("._variables", "DEFAULT_PREFIX"),
    "FORMATS": ("._formats", "FORMATS"),
    "Emitter": ("._types", "Emitter"),
    "FileAppend": ("._types", "FileAppend"),
    "GitHubEmitter": ("._github", "GitHubEmitter"),
    "Notice": ("._types", "Notice"),
    "Rendered": ("._types", "Rendered"),
    "TextEmitter": ("._types", "TextEmitter"),
    "Variable": (".._models", "Variable"),
    "build_variables": ("._variables", "build_variables"),
    "check_prefix": ("._variables", "check_prefix"),
    "find_git_work_tree": ("._writer", "find_git_work_tree"),
    "github_output_name": ("._variables", "github_output_name"),
    "render": ("._formats", "render"),
    "render_docker": ("._docker", "render"),
    "render_dotenv": ("._dotenv", "render"),
    "render_github": ("._github", "render"),
    "render_gitlab": ("._gitlab", "render"),
    "render_json": ("._json", "render"),
    "render_shell": ("._shell", "render"),
    "write": ("._writer", "write"),
    "write_file": ("._writer", "write_file"),
}

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


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = target
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
