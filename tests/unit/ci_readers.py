"""
Reference readers for the CI sinks, written from the upstream parsers they name.

Each one reproduces what the real consumer does with the bytes we emit, quirks included,
so that the emit tests can read every file back: the GitHub runner's file commands
(FileCommandManager.cs) and workflow commands (ActionCommandManager.cs), GitLab's dotenv
report parser and the runner's ``$`` expansion, and docker's ``--env-file`` reader
(opts/file.go).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

BOM = "\ufeff"


class ReaderError(Exception):
    """
    The consumer would reject the file (the message mimics its error).
    """


# --- GitHub: actions/runner FileCommandManager.EnvFileKeyValuePairs -----------------------


def _read_line(text: str, index: int, *, windows: bool) -> tuple[str | None, int, str | None]:
    """
    Return (line, next index, terminator) like the runner's ReadLine: LF only, CRLF on Windows.
    """
    if index >= len(text):
        return None, index, None
    lf = text.find("\n", index)
    if lf < 0:
        return text[index:], len(text), None
    if windows:
        crlf = text.find("\r\n", index)
        if 0 <= crlf < lf:
            return text[index:crlf], crlf + 2, "\r\n"
    return text[index:lf], lf + 1, "\n"


def parse_github_file(data: bytes, *, windows: bool = False) -> list[tuple[str, str]]:
    """
    Return the (name, value) pairs the runner reads from a GITHUB_OUTPUT/ENV file, in order.

    Raises:
        ReaderError: where the runner fails the step ("Invalid format", "Matching
            delimiter not found", "EOF marker missing new line").
    """
    text = data.decode("utf-8", errors="replace")  # File.ReadAllText: UTF-8, BOM stripped
    text = text.removeprefix(BOM)
    pairs: list[tuple[str, str]] = []
    line, index, _ = _read_line(text, 0, windows=windows)
    while line is not None:
        if line:  # a top-level empty line is skipped; a blank one is not
            equals, heredoc = line.find("="), line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                key, value = line.split("=", 1)
            elif heredoc >= 0:
                key, delimiter = line.split("<<", 1)
                if not key or not delimiter:
                    raise ReaderError(
                        f"Invalid format '{line}'. Name must not be empty and delimiter "
                        "must not be empty"
                    )
                start = end = index
                temp, index, newline = _read_line(text, index, windows=windows)
                while temp != delimiter:
                    if temp is None:
                        raise ReaderError(
                            f"Invalid value. Matching delimiter not found '{delimiter}'"
                        )
                    if newline is None:
                        raise ReaderError("Invalid value. EOF marker missing new line.")
                    end = index - len(newline)
                    temp, index, newline = _read_line(text, index, windows=windows)
                value = text[start:end] if end > start else ""
            else:
                raise ReaderError(f"Invalid format '{line}'")
            pairs.append((key, value))
        line, index, _ = _read_line(text, index, windows=windows)
    return pairs


# --- GitHub: workflow commands on stdout (actions/runner ActionCommandManager.cs) ---------


def _unescape_data(data: str) -> str:
    # ActionCommand._escapeDataMappings, applied in this order.
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def registered_masks(stdout: str) -> list[str]:
    """
    Return the values the runner's SecretMasker holds after reading *stdout*, in order.

    Lines end at CR, LF or CRLF (StreamReader.ReadLine); ``::add-mask::DATA`` after
    TrimStart registers the unescaped DATA and each trimmed non-empty line of it.
    """
    masks: list[str] = []
    for line in re.split(r"\r\n|\r|\n", stdout):
        message = line.lstrip()
        if not message.startswith("::"):
            continue
        end = message.find("::", 2)
        if end < 0:
            continue
        name = message[2:end].split(" ", 1)[0]
        if name.lower() != "add-mask":
            continue
        data = _unescape_data(message[end + 2 :])
        if not data.strip():
            continue  # "Can't add secret mask for empty string"
        for value in [data, *(part.strip() for part in re.split(r"[\r\n]", data))]:
            if value and value not in masks:
                masks.append(value)
    return masks


def hidden_characters(text: str, secrets: list[str]) -> list[bool]:
    """
    Return, for each character of *text*, whether the runner's masker hides it: it lies
    within an occurrence of a registered secret (ValueSecret).
    """
    hidden = [False] * len(text)
    for secret in secrets:
        start = text.find(secret)
        while start >= 0:
            for index in range(start, start + len(secret)):
                hidden[index] = True
            start = text.find(secret, start + 1)
    return hidden


def mask(text: str, secrets: list[str]) -> str:
    """
    Return *text* with every occurrence of every secret replaced by ``***`` (ValueSecret).
    """
    hidden = hidden_characters(text, secrets)
    out, index = [], 0
    while index < len(text):
        if hidden[index]:
            while index < len(text) and hidden[index]:
                index += 1
            out.append("***")
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


# --- GitLab: Ci::ParseDotenvArtifactService + runner expansion -----------------------------

_RUBY_STRIP = " \t\n\v\f\r\0"
_GITLAB_KEY = re.compile(r"[a-zA-Z0-9_]+")
_SPECIAL = frozenset("*#$@!?-0123456789")


def _each_line(text: str) -> list[str]:
    # Ruby String#each_line: split after each "\n" only.
    return [part for part in re.split(r"(?<=\n)", text) if part]


def parse_gitlab_dotenv(data: bytes) -> dict[str, str]:
    """
    Return the variables GitLab stores from a dotenv report (values not yet expanded).

    Raises:
        ReaderError: "Invalid Format" for a line without ``=`` (an empty line too), or
            the key validation message.
    """
    text = data.decode("utf-8", errors="replace").removeprefix(BOM)
    out: dict[str, str] = {}
    for line in _each_line(text):
        # Ruby: /^(.*?)=(.*)$/ -- '.' excludes LF, '$' stops before LF.
        match = re.match(r"(.*?)=(.*)$", line.removesuffix("\n"))
        if match is None:
            raise ReaderError("Invalid Format")
        key, value = match.group(1).strip(_RUBY_STRIP), match.group(2).strip(_RUBY_STRIP)
        if not key:
            raise ReaderError("Validation failed: Key can't be blank")
        if len(key) > 255 or not _GITLAB_KEY.fullmatch(key):
            raise ReaderError("Validation failed: Key can contain only letters, digits and '_'.")
        out[key] = value
    return out


def go_expand(value: str, mapping: Callable[[str], str]) -> str:
    """
    Go's os.Expand, which gitlab-runner applies to every non-raw variable.
    """
    out: list[str] = []
    i = j = 0
    while j < len(value):
        if value[j] == "$" and j + 1 < len(value):
            out.append(value[i:j])
            name, width = _shell_name(value[j + 1 :])
            if name == "" and width > 0:
                pass  # invalid syntax: eaten
            elif name == "":
                out.append("$")
            else:
                out.append(mapping(name))
            j += width
            i = j + 1
        j += 1
    out.append(value[i:])
    return "".join(out)


def _shell_name(rest: str) -> tuple[str, int]:
    if rest[0] == "{":
        if len(rest) > 2 and rest[1] in _SPECIAL and rest[2] == "}":
            return rest[1:2], 3
        for index in range(1, len(rest)):
            if rest[index] == "}":
                if index == 1:
                    return "", 2
                return rest[1:index], index + 1
        return "", 1
    if rest[0] in _SPECIAL:
        return rest[0:1], 1
    index = 0
    while index < len(rest) and (
        rest[index] == "_" or (rest[index].isascii() and rest[index].isalnum())
    ):
        index += 1
    return rest[:index], index


def gitlab_runtime_values(data: bytes, job_env: Mapping[str, str]) -> dict[str, str]:
    """
    Return what a later job's script sees: parsed values, expanded by the runner.
    """

    def lookup(name: str) -> str:
        return "$" if name == "$" else job_env.get(name, "")

    return {key: go_expand(value, lookup) for key, value in parse_gitlab_dotenv(data).items()}


# --- docker run --env-file: pkg/kvfile (docker/cli opts/file.go) -------------------------

_GO_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _go_is_space(char: str) -> bool:
    return char in _GO_LATIN1_SPACE or (ord(char) > 0xFF and char.isspace())


def parse_docker_env_file(data: bytes, host_env: Mapping[str, str]) -> list[tuple[str, str]]:
    """
    Return the (name, value) pairs ``docker run --env-file`` passes to the container.

    Raises:
        ReaderError: invalid UTF-8, a key with whitespace or an empty key, a line too long.
    """
    pairs: list[tuple[str, str]] = []
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()  # bufio.ScanLines: no empty token after a final LF
    for number, token in enumerate(chunks, start=1):
        if len(token) >= 64 * 1024:
            raise ReaderError("bufio.Scanner: token too long")
        chunk = token.removesuffix(b"\r")  # dropCR: one trailing CR per line
        if number == 1:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise ReaderError(f"invalid utf8 bytes at line {number}") from None
        start = 0
        while start < len(text) and _go_is_space(text[start]):
            start += 1
        line = text[start:]
        if not line or line.startswith("#"):
            continue
        variable, has_value, value = line.partition("=")
        variable = variable.lstrip(" \t")
        if any(char in variable for char in " \t"):
            raise ReaderError(f"variable '{variable}' contains whitespaces")
        if not variable:
            raise ReaderError(f"no variable name on line '{line}'")
        if has_value:
            pairs.append((variable, value))
        elif variable in host_env:
            pairs.append((variable, host_env[variable]))
    return pairs
