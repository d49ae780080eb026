"""
The shapes shared by every emitter: the Emitter protocol, rendered output, notices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .._models import Variable


@dataclass(frozen=True)
class Notice:
    """
    A warning for the user: a past-tense snake_case log event and one sentence, no secret.
    """

    event: str
    message: str


@dataclass(frozen=True)
class FileAppend:
    """
    Text to append to the file named by an environment variable (``GITHUB_OUTPUT``, ...).

    A *required* target that is unset is an error; an optional one is skipped.
    """

    env_var: str
    text: str = field(repr=False)
    required: bool = True


@dataclass(frozen=True)
class Rendered:
    """
    Everything a format produces, before any byte is written anywhere.

    ``commands`` are workflow commands (``::add-mask::``) that must reach stdout before
    anything else is written; ``text`` is the product for stdout or ``--output`` (``None``
    when the format writes only to ``appends``); ``notices`` are warnings for the user.
    """

    format: str
    text: str | None = field(default=None, repr=False)
    commands: str = field(default="", repr=False)
    appends: tuple[FileAppend, ...] = ()
    notices: tuple[Notice, ...] = ()


class Emitter(Protocol):
    """
    One output format: a name, a line of help and a pure ``render()``.
    """

    @property
    def name(self) -> str:
        """
        The ``--format`` value.
        """

    @property
    def summary(self) -> str:
        """
        One line for ``--help``.
        """

    @property
    def accepts_output(self) -> bool:
        """
        Whether the product can go to ``--output PATH`` (False for ``github``).
        """

    def render(self, variables: Sequence[Variable], *, github_env: bool = False) -> Rendered:
        """
        Return the output for *variables*, doing no I/O.

        Raises:
            UnsafeValue: naming the first variable the format cannot carry byte-exactly.
            ValueError: for ``github_env=True`` on a format other than ``github``.
        """


def _no_notices(variables: Sequence[Variable]) -> tuple[Notice, ...]:
    return ()


@dataclass(frozen=True)
class TextEmitter:
    """
    An emitter whose whole product is one text, for stdout or ``--output``.
    """

    name: str
    summary: str
    to_text: Callable[[Sequence[Variable]], str]
    notices: Callable[[Sequence[Variable]], tuple[Notice, ...]] = _no_notices
    accepts_output: bool = True

    def render(self, variables: Sequence[Variable], *, github_env: bool = False) -> Rendered:
        """
        Return the text and notices for *variables*.

        Raises:
            UnsafeValue: naming the first variable the format cannot carry byte-exactly.
            ValueError: for ``github_env=True``, which only the github format supports.
        """
        if github_env:
            raise ValueError(f"github_env applies only to the github format, not {self.name}")
        return Rendered(self.name, text=self.to_text(variables), notices=self.notices(variables))
