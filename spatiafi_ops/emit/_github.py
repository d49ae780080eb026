"""
The ``github`` format: ``::add-mask::`` commands, then GITHUB_OUTPUT/ENV/STEP_SUMMARY text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._models import Variable
from ._quoting import (
    GITHUB_OUTPUT_NAME,
    check_github_env_name,
    check_name,
    check_unicode,
    github_block,
    markdown_code,
    mask_commands,
)
from ._types import FileAppend, Notice, Rendered
from ._variables import TOKEN_EXPIRES_AT, check_unique, github_output_name

# actions/runner ActionCommandManager.cs: shorter secrets get masked wherever they occur in the job
# log.
_SHORT_SECRET = 8


def new_delimiter() -> str:
    """
    Return a fresh ``ghadelimiter_<uuid4>``, the toolkit's heredoc delimiter (actions/toolkit file-
    command.ts).
    """
    import uuid  # not at import time: uuid pulls in platform, off the fast path

    return f"ghadelimiter_{uuid.uuid4()}"


@dataclass(frozen=True)
class GitHubEmitter:
    """
    GitHub Actions: masks first, then step outputs (and env vars), a fresh delimiter each.

    *new_delimiter* is a seam for tests; production uses a random UUID per value.
    """

    name: str = "github"
    summary: str = "::add-mask:: on stdout, then $GITHUB_OUTPUT (and $GITHUB_ENV) blocks"
    accepts_output: bool = False
    new_delimiter: Callable[[], str] = new_delimiter

    def render(self, variables: Sequence[Variable], *, github_env: bool = False) -> Rendered:
        """
        Return the mask commands and the text to append to the runner's files.

        Output names are kebab-case (``client-id``); ``GITHUB_ENV`` uses the variable
        names. Only non-secret variables go to the step summary.

        Raises:
            UnsafeValue: for a name the runner mis-parses or blocks, or a value holding
                NUL, a CR before a line break, or its delimiter.
        """
        outputs = [(github_output_name(variable.name), variable) for variable in variables]
        check_unique((output for output, _ in outputs), "github")
        if github_env:
            check_unique((variable.name for variable in variables), "github")
        for output, variable in outputs:
            check_unicode(variable.name, variable.value, "github")
            check_name(output, "github", GITHUB_OUTPUT_NAME, variable=variable.name)
            if github_env:
                check_github_env_name(variable.name)

        commands: list[str] = []
        notices: list[Notice] = []
        for variable in variables:
            if variable.secret:
                commands.extend(mask_commands(variable.value))
                notices.extend(_mask_notices(variable))

        appends = [FileAppend("GITHUB_OUTPUT", self._blocks(outputs))]
        if github_env:
            pairs = [(variable.name, variable) for variable in variables]
            appends.append(FileAppend("GITHUB_ENV", self._blocks(pairs)))
        summary = _summary(outputs)
        if summary:
            appends.append(FileAppend("GITHUB_STEP_SUMMARY", summary, required=False))
        return Rendered(
            self.name, commands="".join(commands), appends=tuple(appends), notices=tuple(notices)
        )

    def _blocks(self, pairs: Sequence[tuple[str, Variable]]) -> str:
        return "".join(
            github_block(key, variable.value, self.new_delimiter(), name=variable.name)
            for key, variable in pairs
        )


def _mask_notices(variable: Variable) -> list[Notice]:
    if not variable.value.strip():
        # actions/runner ActionCommandManager.cs: the runner refuses to mask a blank value.
        return [
            Notice(
                "github_mask_skipped",
                f"{variable.name} is empty or blank, so GitHub cannot mask it",
            )
        ]
    lines = [line.strip() for line in re.split(r"[\r\n]", variable.value) if line.strip()]
    if any(len(line) < _SHORT_SECRET for line in [variable.value, *lines]):
        return [
            Notice(
                "github_short_secret_masked",
                f"{variable.name} (or one of its lines) is shorter than {_SHORT_SECRET} "
                "characters; GitHub will mask every occurrence of it in this job's logs",
            )
        ]
    return []


def _summary(outputs: Sequence[tuple[str, Variable]]) -> str:
    """
    Return a Markdown table of the non-secret outputs, or ``""`` when there are none.
    """
    rows = []
    for output, variable in outputs:
        if variable.secret:
            continue
        cell = markdown_code(variable.value)
        if output == TOKEN_EXPIRES_AT[1] and variable.value.isascii() and variable.value.isdigit():
            cell += f" ({_utc(int(variable.value))})"
        rows.append(f"| {markdown_code(output)} | {cell} |\n")
    if not rows:
        return ""
    head = "### SpatiaFi (spatiafi-ops)\n\n| output | value |\n| --- | --- |\n"
    return head + "".join(rows) + "\n"


def _utc(epoch: int) -> str:
    import datetime

    try:
        moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render(variables: Sequence[Variable], *, github_env: bool = False) -> Rendered:
    """
    Return the github format's output for *variables*, with random delimiters.
    """
    return EMITTER.render(variables, github_env=github_env)


EMITTER = GitHubEmitter()
