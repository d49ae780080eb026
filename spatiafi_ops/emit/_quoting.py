"""
The only place that quotes or escapes: each sink's name rules and value encoders.

Every encoder either returns text that its reader turns back into exactly the value, or
raises ``UnsafeValue`` naming the variable (never the value). Each rule names the
upstream reader it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .._errors import UnsafeValue

# Runner, GitLab and dotenv readers alike: a portable environment variable name.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# GitHub step outputs are kebab-case (README: Output formats); the runner only needs no
# '=', '<<', LF.
GITHUB_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# GitLab Ci::ParseDotenvArtifactService: Ci::HasVariable allows [a-zA-Z0-9_]{1,255}; no leading
# digit for shells.
GITLAB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

# docker/cli opts/file.go: readonly in bash (sourcing aborts sh) or changing how the shell works.
SHELL_HAZARD_NAMES = frozenset(
    {
        "BASHOPTS",
        "BASH_VERSINFO",
        "EUID",
        "PPID",
        "SHELLOPTS",
        "UID",
        "BASH_ENV",
        "CDPATH",
        "ENV",
        "IFS",
        "PATH",
        "PS4",
        "LD_PRELOAD",
    }
)
# actions/runner FileCommandManager.cs: refused in GITHUB_ENV (compared upper-case: Windows env is
# case-blind).
GITHUB_ENV_BLOCKED = frozenset(
    {"NODE_OPTIONS", "ACTIONS_ALLOW_UNSECURE_COMMANDS", "LD_PRELOAD", "BASH_ENV", "ENV", "PATH"}
)
# actions/runner FileCommandManager.cs: GITHUB_*/RUNNER_* steer the runner and actions; ACTIONS_*
# too (debug
# switches, ID-token endpoints), a conservative extension of the reference's list.
GITHUB_ENV_BLOCKED_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_")

# python-dotenv parser.py: the pattern python-dotenv interpolates, in every quoting style.
_DOTENV_INTERPOLATION = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")
# python-dotenv parser.py: characters after which '$' stays literal in sh double quotes.
_SAFE_AFTER_DOLLAR = frozenset(" %&')+,./:;<=>]^|}~\n")
# docker/cli opts/file.go: bufio.Scanner's MaxScanTokenSize; a longer line is an error.
DOCKER_MAX_LINE = 64 * 1024
# GitLab Ci::ParseDotenvArtifactService: Ruby's String#strip removes these from both ends of key and
# value.
_RUBY_STRIP = " \t\n\v\f\r\0"
# actions/runner FileCommandManager.cs: the toolkit's delimiter shape, long enough to be
# unguessable.
_DELIMITER = re.compile(r"[A-Za-z0-9_-]{16,}")


def refuse(name: str, fmt: str, reason: str, fix: str = "") -> UnsafeValue:
    """
    Build the error for variable *name* that *fmt* cannot carry; *reason* never quotes a value.
    """
    shown = name if GITHUB_OUTPUT_NAME.fullmatch(name) else ascii(name)
    hint = f"; {fix}" if fix else ""
    return UnsafeValue(f"cannot write {shown} in the {fmt} format: it {reason}{hint}", name=name)


def check_unicode(name: str, value: str, fmt: str) -> None:
    """
    Refuse text that has no UTF-8 encoding (lone surrogates); every sink reads UTF-8.
    """
    for text, what in ((name, "name"), (value, "value")):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise refuse(name, fmt, f"has a {what} that is not Unicode text") from None


def check_name(
    name: str,
    fmt: str,
    pattern: re.Pattern[str] = ENV_NAME,
    hazards: Iterable[str] = (),
    *,
    variable: str | None = None,
) -> None:
    """
    Refuse a name that *pattern* does not fully match, or a hazardous one.

    Errors name *variable* when the checked name is derived from it (GitHub outputs).
    """
    reported = name if variable is None else variable
    if not pattern.fullmatch(name):
        raise refuse(
            reported,
            fmt,
            "is not a name this format can carry: use ASCII letters, digits and '_', "
            "not starting with a digit",
        )
    if name in hazards:
        raise refuse(
            reported, fmt, "is a name the shell treats specially", "choose another --prefix"
        )


def check_github_env_name(name: str) -> None:
    """
    Refuse a ``GITHUB_ENV`` name that the runner blocks or that hijacks later steps.
    """
    check_name(name, "github")
    upper = name.upper()
    if upper in GITHUB_ENV_BLOCKED or upper.startswith(GITHUB_ENV_BLOCKED_PREFIXES):
        raise refuse(
            name,
            "github",
            "is a name that GITHUB_ENV must not set (the runner blocks it or it changes "
            "how later steps run)",
            "choose another --prefix",
        )


def shell_quote(name: str, value: str) -> str:
    """
    Return *value* in POSIX single quotes, with ``'`` written as ``'\\''``.

    Inside single quotes bash, dash and zsh take every byte literally (POSIX XCU 2.2.2),
    newlines included; only ``'`` itself needs closing, escaping and reopening.
    """
    if "\0" in value:
        # No environment variable or shell string can hold NUL (docker/cli opts/file.go).
        raise refuse(name, "shell", "contains a NUL character, which no shell variable can hold")
    return "'" + value.replace("'", "'\\''") + "'"


def dotenv_quote(name: str, value: str) -> str:
    """
    Return *value* quoted so that python-dotenv and ``sh`` both read it back unchanged.

    This is the scheme of python-dotenv parser.py: single quotes when the value has no ``'``, no
    ``\\\\`` and no trailing ``\\``; otherwise double quotes with ``\\`` and ``"`` escaped,
    when no backtick or shell-active ``$`` makes that unsafe; otherwise refusal.
    """
    fix = "use --format shell or json instead"
    if "\0" in value:  # R1
        raise refuse(name, "dotenv", "contains a NUL character", fix)
    if "\r" in value:  # R2: python-dotenv reads files with universal newlines
        raise refuse(
            name, "dotenv", "contains a carriage return, which python-dotenv reads as LF", fix
        )
    if _DOTENV_INTERPOLATION.search(value):  # R3: expanded even inside single quotes
        raise refuse(name, "dotenv", "contains a ${...} pattern that python-dotenv expands", fix)
    if "'" not in value and "\\\\" not in value and not value.endswith("\\"):
        return "'" + value + "'"  # mode S
    if value.endswith("\\"):  # R4: python-dotenv would read \" as an escaped quote
        raise refuse(name, "dotenv", "needs double quotes and ends with a backslash", fix)
    if "`" in value:  # R5: command substitution in sh double quotes
        raise refuse(name, "dotenv", "needs double quotes and contains a backtick", fix)
    for index, char in enumerate(value[:-1]):  # R6: '$' last in the value is literal
        if char == "$" and value[index + 1] not in _SAFE_AFTER_DOLLAR:
            raise refuse(
                name, "dotenv", "needs double quotes and contains a '$' that sh would expand", fix
            )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'  # mode D


def docker_line(name: str, value: str) -> str:
    """
    Return the raw ``NAME=value`` line for ``docker run --env-file``, with its LF.

    docker passes the value as-is (no quotes, no escapes), keeping leading and trailing
    whitespace: the line's leading whitespace is stripped, but the line starts with NAME.
    """
    fix = "use --format dotenv or json instead"
    if "\0" in value:
        raise refuse(name, "docker", "contains a NUL character", fix)
    if "\n" in value:  # docker/cli opts/file.go: one line per variable, no escapes
        raise refuse(name, "docker", "contains a newline, which an env file cannot hold", fix)
    if value.endswith("\r"):  # docker/cli opts/file.go: ScanLines drops one trailing CR
        raise refuse(name, "docker", "ends with a carriage return, which docker drops", fix)
    line = f"{name}={value}\n"
    if len(line.encode("utf-8")) >= DOCKER_MAX_LINE:  # docker/cli opts/file.go: token too long
        raise refuse(name, "docker", "is too long for one env-file line (64 KiB)", fix)
    return line


def gitlab_line(name: str, value: str) -> str:
    """
    Return the ``KEY=VALUE`` line for an ``artifacts:reports:dotenv`` file, with its LF.

    GitLab keeps quotes and strips surrounding whitespace (Ci::ParseDotenvArtifactService),
    and the runner expands ``$`` in dotenv variables, where ``$$`` stands for ``$``.
    """
    fix = "GitLab dotenv reports cannot carry it"
    if any(char in value for char in "\n\r\0"):  # L3
        raise refuse(name, "gitlab", "contains a line break or NUL character", fix)
    if value != value.strip(_RUBY_STRIP):  # L3: Ruby String#strip on the value
        raise refuse(name, "gitlab", "starts or ends with whitespace, which GitLab strips", fix)
    return f"{name}={value.replace('$', '$$')}\n"


def escape_command_data(value: str) -> str:
    """
    Escape workflow-command data: ``%`` first, then CR and LF (actions/toolkit command.ts,
    escapeData).
    """
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask_commands(value: str) -> tuple[str, ...]:
    """
    Return the ``::add-mask::`` lines that register *value* and each of its lines.

    The runner registers the whole value and each trimmed non-empty line itself since
    v2.286.0; writing the lines too covers older runners (ActionCommandManager.cs). A blank
    value cannot be masked (the runner only warns), so it yields nothing.
    """
    if not value.strip():
        return ()
    pieces = [value]
    for line in re.split(r"\r\n|\r|\n", value):
        piece = line.strip()
        if piece and piece not in pieces:
            pieces.append(piece)
    return tuple(f"::add-mask::{escape_command_data(piece)}\n" for piece in pieces)


def github_block(key: str, value: str, delimiter: str, *, name: str | None = None) -> str:
    """
    Return one ``key<<delimiter`` heredoc for a GitHub file command, LF-terminated.

    The runner reads value lines until one equals the delimiter, so a value holding the
    delimiter could end the block early and inject commands (actions/runner FileCommandManager.cs).
    *name* is the variable named in errors (defaults to *key*).
    """
    name = key if name is None else name
    if not _DELIMITER.fullmatch(delimiter):
        raise ValueError(f"unsafe heredoc delimiter {delimiter!r}")
    if delimiter in value or delimiter in key:  # G3, the toolkit's contains-check
        raise refuse(name, "github", "contains the heredoc delimiter chosen for it", "retry")
    if "\0" in value:  # G7
        raise refuse(name, "github", "contains a NUL character")
    if value.endswith("\r") or "\r\n" in value:  # G4: Windows runners drop CR before LF
        raise refuse(name, "github", "has a carriage return before a line break")
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"


def markdown_code(text: str) -> str:
    """
    Return *text* as a one-line Markdown code span that is safe inside a table cell.
    """
    flat = " ".join(text.splitlines()) or " "
    flat = flat.replace("|", "\\|")  # GFM: a pipe splits a table cell even in code
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def json_object(pairs: Iterable[tuple[str, str]]) -> str:
    """
    Return one JSON object of name → value and a LF; JSON strings carry any text.
    """
    import json  # import only when used: the token fast path rarely needs it

    return json.dumps(dict(pairs), ensure_ascii=False) + "\n"
