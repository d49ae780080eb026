"""
The secrets currently in play, and the functions that keep them (and terminal controls) out of
what we print.

Library code registers every secret it handles (password, ``user:password``, client secret,
token, assertion); log processors and the CLI's error boundary call :func:`scrub`. Nothing
here imports structlog or logging, so that registering is free on the fast path.

What is scrubbed, for every registered value (see docs/logging.md, "Redaction"):

- its spellings: raw; URL-encoded (``quote``, ``quote_plus``, lower-case hex too);
  JSON-escaped (with and without ``ensure_ascii``) and ``repr``-escaped; base64 (standard
  and URL-safe, with and without padding), also at the two other byte alignments, which is
  how the value looks inside a longer base64 text such as a Basic header of ``user:value``;
- a base64 spelling cut short: a prefix of at least six characters that ends where the
  text stops being base64 (a server that echoes a truncated ``Authorization`` header);
- values shorter than six characters, only as whole tokens (not inside a word), so that a
  short password never takes letters out of ordinary words.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "**redacted**"
# The longest text from a peer (an error description, a tool's last line) shown in a message.
MAX_DETAIL = 200
# Keys whose values are secret whatever they hold (README: Security).
SECRET_KEY_PATTERN = re.compile(
    r"secret|password|passwd|token|assertion|authorization|private_key|api_key|cookie",
    re.IGNORECASE,
)
# Spellings at least this long are found anywhere in a text by their first characters;
# shorter ones only as whole tokens, or they would scrub letters out of ordinary words.
_KEY = 6
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")
# Values nested deeper than this in a log event are not walked (deeply nested JSON).
_MAX_DEPTH = 32

_lock = threading.Lock()
_values: set[str] = set()
_unindexed: list[str] = []  # registered, spellings not derived yet
_spellings: set[str] = set()
# Long spellings by their first _KEY characters, longest first, each with whether a cut-short
# prefix of it counts (base64): one dictionary look-up per position of the text, however many
# secrets a fleet run registers. Buckets are tuples, replaced whole, so that a scrub in
# another thread never sees one half-updated.
_by_prefix: dict[str, tuple[tuple[str, bool], ...]] = {}
_short: set[str] = set()
_short_pattern: re.Pattern[str] | None = None


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    # Compiled on first use: importing this module is on the cached-token path.
    return re.compile(source)


def register_secret(value: str | None) -> None:
    """
    Remember *value* for scrubbing; cheap, so that the fast path can afford it.

    Its spellings are derived when text is first scrubbed.
    """
    if not value or not isinstance(value, str) or value in _values:
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _unindexed.append(value)


def _base64_spellings(raw: bytes, add: Callable[[str, bool], None]) -> None:
    import base64

    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        padded = encode(raw).decode()
        add(padded, True)
        add(padded.rstrip("="), True)
        if len(raw) < _KEY:
            continue
        # Inside a longer base64 text the value starts at byte offset 0, 1 or 2 of a 3-byte
        # group; only the characters made of its bits alone are the same in every such text.
        for shift in (0, 1, 2):
            shifted = encode(b"\0" * shift + raw).decode()
            add(shifted[-(-8 * shift // 6) : 8 * (shift + len(raw)) // 6], False)


def _spellings_of(value: str) -> dict[str, bool]:
    """
    Return every spelling of *value* that we scrub, each with whether a prefix counts.
    """
    import json
    from urllib.parse import quote, quote_plus

    found: dict[str, bool] = {}

    def add(spelling: str, truncatable: bool = False) -> None:
        if spelling:
            found[spelling] = found.get(spelling, False) or truncatable

    makers: tuple[Callable[[], str], ...] = (
        lambda: value,
        lambda: quote(value, safe=""),
        lambda: quote(value),
        lambda: quote_plus(value),
        lambda: json.dumps(value)[1:-1],
        lambda: json.dumps(value, ensure_ascii=False)[1:-1],
        lambda: repr(value)[1:-1],
    )
    for make in makers:
        try:  # a value with a lone surrogate has no UTF-8, so no URL or base64 spelling
            add(make())
        except (UnicodeError, ValueError):
            continue
    for spelling in list(found):
        add(_pattern("%[0-9A-F]{2}").sub(lambda match: match.group().lower(), spelling))
    with contextlib.suppress(UnicodeError):
        _base64_spellings(value.encode("utf-8"), add)
    return found


def _current_index() -> tuple[dict[str, tuple[tuple[str, bool], ...]], re.Pattern[str] | None]:
    global _short_pattern  # noqa: PLW0603 - the registry is process-wide by design
    with _lock:
        # Only the secrets registered since the last scrub: no rebuild per new secret.
        added_short = False
        while _unindexed:
            for spelling, truncatable in _spellings_of(_unindexed.pop()).items():
                if spelling in _spellings:
                    continue
                _spellings.add(spelling)
                if len(spelling) < _KEY:
                    _short.add(spelling)
                    added_short = True
                    continue
                prefix = spelling[:_KEY]
                bucket = (*_by_prefix.get(prefix, ()), (spelling, truncatable))
                _by_prefix[prefix] = tuple(sorted(bucket, key=lambda s: len(s[0]), reverse=True))
        if added_short:
            _short_pattern = _token_pattern(_short)
        return _by_prefix, _short_pattern


def _token_pattern(values: set[str]) -> re.Pattern[str]:
    """
    Match any of *values* as a whole token: not preceded or followed by a word character
    where the value itself starts or ends with one.
    """
    alternatives = []
    for value in sorted(values, key=len, reverse=True):
        before = r"(?<!\w)" if re.match(r"\w", value[0]) else ""
        after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
        alternatives.append(before + re.escape(value) + after)
    return re.compile("|".join(alternatives))


def _match_end(text: str, position: int, bucket: tuple[tuple[str, bool], ...]) -> int:
    """
    Return where the longest spelling in *bucket* found at *position* ends, or 0.
    """
    for spelling, _truncatable in bucket:
        if text.startswith(spelling, position):
            return position + len(spelling)
    # A base64 spelling cut short: the text stops being base64 where the spelling goes on.
    best = 0
    for spelling, truncatable in bucket:
        if not truncatable:
            continue
        length = _KEY
        limit = min(len(spelling), len(text) - position)
        while length < limit and text[position + length] == spelling[length]:
            length += 1
        end = position + length
        if end == len(text) or text[end] not in _BASE64:
            best = max(best, end)
    return best


def _scrub(text: str) -> str:
    index, short = _current_index()
    if index and len(text) >= _KEY:
        pieces: list[str] = []
        kept_from = 0
        start = end = -1  # the range being redacted; overlapping matches merge into it
        for position in range(len(text) - _KEY + 1):
            bucket = index.get(text[position : position + _KEY])
            if bucket is None:
                continue
            found = _match_end(text, position, bucket)
            if not found:
                continue
            if position <= end:
                end = max(end, found)
                continue
            if end >= 0:
                pieces += (text[kept_from:start], REDACTED)
                kept_from = end
            start, end = position, found
        if end >= 0:
            pieces += (text[kept_from:start], REDACTED, text[end:])
            text = "".join(pieces)
    if short is not None:
        text = short.sub(REDACTED, text)
    return text


def scrub(text: object) -> str:
    """
    Return *text* with every registered secret, in any spelling, replaced by a marker.

    One pass over the text, whatever the number of secrets (a fleet run registers a few
    per profile), with no pattern to rebuild when one is added. Never raises: what cannot
    be checked is not shown.
    """
    try:
        return _scrub(text if isinstance(text, str) else str(text))
    except Exception:  # a scrubber that raises would have the raw text printed instead
        return REDACTED


def printable(text: object, *, limit: int | None = None, multiline: bool = False) -> str:
    """
    Return *text* fit for a terminal or a CI log: scrubbed, every character that is not
    printable written out as an escape (``\\x1b``, ``\\u202e``), and at most *limit* long.

    For text from the network or a child process: no escape sequence, carriage return, line
    separator or bidirectional override can rewrite what the reader sees. Newlines are kept
    only when *multiline* (a traceback); TAB always. Scrubbed first, cut last: escaping or
    cutting first could split a secret (or its base64) where scrubbing no longer sees it.
    """
    shown = scrub(text)
    if not shown.isprintable():
        kept = "\t\n" if multiline else "\t"
        shown = "".join(ch if ch.isprintable() or ch in kept else ascii(ch)[1:-1] for ch in shown)
    return shown if limit is None or len(shown) <= limit else shown[: limit - 1] + "…"


def plain_line(text: str) -> str:
    """
    Return *text* as one line in which a CI runner finds no command: controls written out,
    ``##[`` as ``#%23[`` and a leading ``::`` as ``%3A:``.

    GitHub's runner reads ``::name::`` at the start of a line (after spaces) and the legacy
    ``##[name]`` anywhere in it, in stdout and stderr alike (actions/runner:
    src/Runner.Common/ActionCommand.cs, ``TryParseV2`` and ``TryParse``): a stray
    ``##[stop-commands]`` from a server would turn off the masks of later steps.
    """
    line = printable(text).replace("##[", "#%23[")
    if line.lstrip().startswith("::"):
        line = line.replace("::", "%3A:", 1)
    return line


def plain_json(text: str) -> str:
    """
    Return JSON *text* (one line) with every ``##[`` written ``##\\u005b``: the same JSON
    value, no runner command (see :func:`plain_line`). ``#`` only occurs inside strings.
    """
    return text.replace("##[", "##\\u005b")


def redact_value(key: str | None, value: Any, depth: int = 0) -> Any:
    """
    Return *value* (a log field named *key*) masked if its key names a secret, else scrubbed
    at any depth; objects other than plain data become scrubbed text.
    """
    if key is not None and SECRET_KEY_PATTERN.search(key) and value not in (None, ""):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping | list | tuple):
        return REDACTED if depth >= _MAX_DEPTH else _redact_container(value, depth + 1)
    if isinstance(value, BaseException):
        value = f"{type(value).__name__}: {value}"
    return scrub(value)


def _redact_container(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> Any:
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v, depth) for k, v in value.items()}
    return [redact_value(None, item, depth) for item in value]


def known_secrets() -> frozenset[str]:
    """
    Return every registered spelling (for leak scans in tests and proofs).
    """
    _current_index()
    with _lock:
        return frozenset(_spellings)


def forget_secrets() -> None:
    """
    Clear the registry (for tests and long-lived processes that switch accounts).
    """
    global _short_pattern  # noqa: PLW0603
    with _lock:
        _values.clear()
        _unindexed.clear()
        _spellings.clear()
        _by_prefix.clear()
        _short.clear()
        _short_pattern = None
