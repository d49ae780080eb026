"""
The ``gitlab`` format: an ``artifacts:reports:dotenv`` file, and its masking caveat.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Variable
from ._quoting import GITLAB_NAME, gitlab_line
from ._types import Notice, TextEmitter
from ._variables import render_lines

# GitLab Ci::ParseDotenvArtifactService: plan limits; self-managed defaults (dotenv_size,
# dotenv_variables).
MAX_BYTES = 5 * 1024
MAX_VARIABLES = 20


def render(variables: Sequence[Variable]) -> str:
    """
    Return one ``KEY=VALUE`` line per variable, ``$`` doubled (GitLab's
    Ci::ParseDotenvArtifactService).

    Raises:
        UnsafeValue: for a bad key, a line break, or surrounding whitespace GitLab strips.
    """
    return render_lines(
        variables, "gitlab", lambda v: gitlab_line(v.name, v.value), pattern=GITLAB_NAME
    )


def notices(variables: Sequence[Variable]) -> tuple[Notice, ...]:
    """
    Return the warnings a GitLab user needs: no masking (L6), and plan limits (L5).
    """
    out = []
    secrets = [variable.name for variable in variables if variable.secret]
    if secrets:
        out.append(
            Notice(
                "gitlab_masking_unavailable",
                f"GitLab cannot mask variables from a dotenv report, so {', '.join(secrets)} "
                "will be readable by anyone who can download this job's artifacts or read "
                "later jobs' logs; prefer masked CI/CD variables for secrets",
            )
        )
    if len(variables) > MAX_VARIABLES:
        out.append(
            Notice(
                "gitlab_variable_limit_exceeded",
                f"the dotenv report has {len(variables)} variables; GitLab's default limit is "
                f"{MAX_VARIABLES} and it rejects the whole report beyond the plan's limit",
            )
        )
    size = len(render(variables).encode("utf-8"))
    if size >= MAX_BYTES:
        out.append(
            Notice(
                "gitlab_size_limit_exceeded",
                f"the dotenv report is {size} bytes; GitLab's default limit is {MAX_BYTES} "
                "and it rejects the whole report beyond the plan's limit",
            )
        )
    return tuple(out)


EMITTER = TextEmitter(
    "gitlab", "KEY=VALUE lines for GitLab artifacts:reports:dotenv (unmasked)", render, notices
)
