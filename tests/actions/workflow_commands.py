"""
What the GitHub Actions runner reads from a step: file commands and workflow commands.

Follows actions/runner (src/Runner.Worker: FileCommandManager.cs, ActionCommandManager.cs): the
``FileCommandManager`` parser for GITHUB_OUTPUT/ENV/STATE (Linux line rules), GITHUB_PATH
splitting, and the output processing that turns ``::add-mask::`` into masks (from the next
line on, never echoed) and ``::error::`` into annotations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class HarnessError(AssertionError):
    """
    The action or a file it wrote breaks a rule of the runner (or of this project).
    """


class FileCommandError(HarnessError):
    """
    A runner file command the runner itself would reject ("Unable to process file command").
    """


# ---------------------------------------------------------------------------------------------
# File commands (actions/runner FileCommandManager.cs)


@dataclass(frozen=True)
class FilePair:
    """
    One NAME/VALUE from a GITHUB_OUTPUT/GITHUB_ENV file, and how it was written.
    """

    name: str
    value: str
    heredoc: bool
    delimiter: str | None = None


def parse_file_command(text: str) -> list[FilePair]:
    """
    Parse GITHUB_OUTPUT/ENV/STATE text like ``FileCommandManager.EnvFileKeyValuePairs`` (Linux).

    Raises:
        FileCommandError: with the runner's message for an invalid line or a missing delimiter.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")  # LF only; on Linux a CR stays part of the line
    if lines and lines[-1] == "":
        lines.pop()
    pairs: list[FilePair] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line == "":
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
            if not name:
                raise FileCommandError(f"Invalid format '{line}'. Name must not be empty")
            pairs.append(FilePair(name, value, heredoc=False))
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not name or not delimiter:
                raise FileCommandError(
                    f"Invalid format '{line}'. "
                    "Name must not be empty and delimiter must not be empty"
                )
            value_lines: list[str] = []
            while True:
                if index >= len(lines):
                    raise FileCommandError(
                        f"Invalid value. Matching delimiter not found '{delimiter}'"
                    )
                current = lines[index]
                index += 1
                if current == delimiter:
                    break
                value_lines.append(current)
            pairs.append(FilePair(name, "\n".join(value_lines), heredoc=True, delimiter=delimiter))
        else:
            raise FileCommandError(f"Invalid format '{line}'")
    return pairs


def parse_path_file(text: str) -> list[str]:
    """
    Return the GITHUB_PATH entries in the order written (CR, LF and CRLF split; empties skipped).
    """
    return [line for line in LINE_BREAK.split(text) if line]


# ---------------------------------------------------------------------------------------------
# Workflow commands on stdout/stderr (actions/runner ActionCommandManager.cs)


@dataclass(frozen=True)
class Annotation:
    """
    An ``::error::``/``::warning::``/``::notice::`` command, unescaped.
    """

    level: str
    message: str
    properties: Mapping[str, str]


def unescape_data(data: str) -> str:
    """
    Undo toolkit ``escapeData`` in the runner's order: %0D, %0A, then %25.
    """
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(value: str) -> str:
    value = value.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
    return value.replace("%25", "%")


@dataclass
class Log:
    """
    What the runner shows of a step: masked lines, annotations, registered masks.
    """

    lines: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    masks: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)

    def mask(self, text: str) -> str:
        """
        Replace every registered secret in *text* with ``***`` (longest first, like merged ranges).
        """
        for secret in sorted(self.masks, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def add_mask(self, value: str) -> None:
        """
        Register *value* and each of its trimmed non-empty lines (AddMaskCommandExtension).
        """
        if not value.strip():
            self.annotations.append(
                Annotation("warning", "Can't add secret mask for empty string", {})
            )
            return
        self.masks.add(value)
        self.masks.update(line.strip() for line in LINE_BREAK.split(value) if line.strip())

    def feed(self, raw: str) -> None:
        """
        Process the raw output of one step, line by line.
        """
        parts = LINE_BREAK.split(raw)
        if parts[-1] == "":
            parts.pop()  # the break that ends the last line starts no new one
        for line in parts:
            self._line(line)

    def _line(self, line: str) -> None:
        stripped = line.lstrip()
        if stripped.startswith("::"):
            rest = stripped[2:]
            end = rest.find("::")
            if end >= 0:
                head, data = rest[:end], rest[end + 2 :]
                name, _, props = head.partition(" ")
                name = name.lower()
                self.commands.append(name)
                if name == "add-mask":
                    self.add_mask(unescape_data(data))
                    return  # OmitEcho: never printed
                if name in ("error", "warning", "notice"):
                    properties = {}
                    for item in props.split(","):
                        key, sep, value = item.partition("=")
                        if sep:
                            properties[key.strip()] = _unescape_property(value)
                    self.annotations.append(
                        Annotation(name, self.mask(unescape_data(data)), properties)
                    )
                    self.lines.append(self.mask(f"{name.capitalize()}: {unescape_data(data)}"))
                    return
                if name in ("debug", "group", "endgroup"):
                    return
                if name in ("set-output", "set-env", "add-path", "save-state", "stop-commands"):
                    raise HarnessError(f"deprecated or unsafe workflow command used: {line!r}")
        self.lines.append(self.mask(line))

    @property
    def text(self) -> str:
        """
        The visible log, one line per line.
        """
        return "\n".join(self.lines)
