"""
A small evaluator of GitHub Actions expressions, for running composite actions in tests.

It covers what ``actions/*/action.yml`` use: contexts with property access (names may hold
``-``), string/number/boolean/null literals, ``! == != < <= > >= && ||`` and parentheses, and
the functions ``success() failure() always() cancelled() contains() startsWith() endsWith()``.
Semantics follow the documentation: ``&&``/``||`` return an operand, strings compare
case-insensitively, values of different types are compared as numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Value = Any  # None | bool | float | str | Mapping[str, Any] | list[Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<op>==|!=|<=|>=|&&|\|\||[()!<>.,])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")


class ExpressionError(ValueError):
    """
    An expression this evaluator cannot parse or does not support.
    """


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    source = source.rstrip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot parse {source!r} at {position}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def truthy(value: Value) -> bool:
    """
    Return the truthiness of *value*: null, false, 0, NaN and '' are false.
    """
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float | int):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def to_string(value: Value) -> str:
    """
    Return *value* as ``${{ }}`` interpolation renders it.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    raise ExpressionError(f"cannot interpolate an object or array: {value!r}")


def _to_number(value: Value) -> float:  # noqa: PLR0911 - one case per JSON type
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float | int):
        return float(value)
    if isinstance(value, str):
        if value.strip() == "":
            return 0.0
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def _compare(left: Value, right: Value) -> float | None:
    """
    Return negative/zero/positive like a comparison, or ``None`` when incomparable.
    """
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
        return (a > b) - (a < b)
    if type(left) is type(right) and isinstance(left, bool):
        return int(left) - int(right)
    if isinstance(left, Mapping | list) or isinstance(right, Mapping | list):
        return 0 if left is right else None
    a_num, b_num = _to_number(left), _to_number(right)
    if math.isnan(a_num) or math.isnan(b_num):
        return None
    return (a_num > b_num) - (a_num < b_num)


class _Parser:
    def __init__(
        self, tokens: list[_Token], contexts: Mapping[str, Value], status: Callable[[str], bool]
    ) -> None:
        self.tokens = tokens
        self.index = 0
        self.contexts = contexts
        self.status = status

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise ExpressionError(f"expected {text or 'a token'}, got {token}")
        self.index += 1
        return token

    def parse(self) -> Value:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()}")
        return value

    def or_(self) -> Value:
        value = self.and_()
        while self.peek() is not None and self.peek().text == "||":  # type: ignore[union-attr]
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Value:
        value = self.equality()
        while self.peek() is not None and self.peek().text == "&&":  # type: ignore[union-attr]
            self.take()
            right = self.equality()
            value = right if truthy(value) else value
        return value

    def equality(self) -> Value:
        value = self.relational()
        while self.peek() is not None and self.peek().text in ("==", "!="):  # type: ignore[union-attr]
            op = self.take().text
            result = _compare(value, self.relational())
            value = (result == 0) if op == "==" else (result != 0)
        return value

    def relational(self) -> Value:
        value = self.unary()
        while self.peek() is not None and self.peek().text in ("<", "<=", ">", ">="):  # type: ignore[union-attr]
            op = self.take().text
            result = _compare(value, self.unary())
            if result is None:
                value = False
            else:
                value = {"<": result < 0, "<=": result <= 0, ">": result > 0, ">=": result >= 0}[op]
        return value

    def unary(self) -> Value:
        if self.peek() is not None and self.peek().text == "!":  # type: ignore[union-attr]
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Value:  # noqa: PLR0911 - one case per kind of token
        token = self.take()
        if token.text == "(":
            value = self.or_()
            self.take(")")
            return value
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind != "name":
            raise ExpressionError(f"unexpected {token}")
        lowered = token.text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            return self.call(token.text)
        if token.text not in self.contexts:
            raise ExpressionError(f"unknown context {token.text!r}")
        value = self.contexts[token.text]
        while self.peek() is not None and self.peek().text == ".":  # type: ignore[union-attr]
            self.take()
            name = self.take().text
            value = value.get(name) if isinstance(value, Mapping) else None
        return value

    def call(self, name: str) -> Value:
        self.take("(")
        args: list[Value] = []
        while self.peek() is not None and self.peek().text != ")":  # type: ignore[union-attr]
            args.append(self.or_())
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
        self.take(")")
        lowered = name.lower()
        if lowered in STATUS_FUNCTIONS and not args:
            return self.status(lowered)
        if lowered in ("contains", "startswith", "endswith") and len(args) == 2:
            haystack, needle = args
            if lowered == "contains" and isinstance(haystack, list):
                return any(_compare(item, needle) == 0 for item in haystack)
            text, part = to_string(haystack).casefold(), to_string(needle).casefold()
            if lowered == "contains":
                return part in text
            return text.startswith(part) if lowered == "startswith" else text.endswith(part)
        raise ExpressionError(f"unsupported function {name}({len(args)} arguments)")


def evaluate(
    source: str,
    contexts: Mapping[str, Value],
    status: Callable[[str], bool] | None = None,
) -> Value:
    """
    Return the value of the expression *source* (without ``${{ }}``).
    """

    def _no_status(name: str) -> bool:
        raise ExpressionError(f"{name}() is only available in if: conditions")

    return _Parser(_tokenize(source), contexts, status or _no_status).parse()


def interpolate(text: str, contexts: Mapping[str, Value]) -> str:
    """
    Return *text* with every ``${{ expression }}`` replaced by its string value.
    """
    return _TEMPLATE.sub(lambda match: to_string(evaluate(match.group(1), contexts)), text)


def condition(
    text: str | bool | None, contexts: Mapping[str, Value], status: Callable[[str], bool]
) -> bool:
    """
    Return whether a step's ``if:`` holds, adding the implicit ``success() &&``.

    Like the runner, an ``if:`` may be written with or without ``${{ }}``.
    """
    if text is None:
        return status("success")
    if isinstance(text, bool):
        return text and status("success")
    source = text.strip()
    match = _TEMPLATE.fullmatch(source)
    if match is not None:
        source = match.group(1).strip()
    if not any(re.search(rf"\b{name}\s*\(", source, re.IGNORECASE) for name in STATUS_FUNCTIONS):
        source = f"success() && ({source})"
    return truthy(evaluate(source, contexts, status))
