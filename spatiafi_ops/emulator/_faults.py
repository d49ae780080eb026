"""
Fault injection: which request of which route fails how, reproducibly from a seed.
"""

from __future__ import annotations

import http
import random
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from ._messages import Response, json_response
from ._paths import ANY_ROUTE, canonical_route

MAX_LATENCY = 3600.0

Kind = Literal["status", "drop", "reset", "truncate", "latency"]
KINDS: tuple[str, ...] = get_args(Kind)

_PROXY_HTML = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(text)


# Fault.parse: bare words, and key=value settings as (field, converter, implied fields).
_FLAGS: dict[str, dict[str, Any]] = {
    "drop": {"kind": "drop"},
    "reset": {"kind": "reset"},
    "truncate": {"kind": "truncate"},
    "after": {"after": True},
}
_SETTINGS: dict[str, tuple[str, Callable[[str], Any], dict[str, Any]]] = {
    "route": ("route", str, {}),
    "kind": ("kind", str, {}),
    "status": ("status", int, {"kind": "status"}),
    "latency": ("latency", float, {"kind": "latency"}),
    "probability": ("probability", float, {}),
    "p": ("probability", float, {}),
    "times": ("times", int, {}),
    "n": ("times", int, {}),
    "retry_after": ("retry_after", int, {}),
    "after": ("after", _bool, {}),
}


@dataclass(frozen=True)
class Fault:
    """
    One fault rule: on requests to ``route``, with ``probability``, do ``kind``.

    Kinds:
        ``status``: answer ``status`` (500 plain text as Starlette, 502/504 an nginx HTML
        page, 429 with ``Retry-After``, others ``{"detail": phrase}``);
        ``drop``: close the connection without a response;
        ``reset``: send part of the status line and headers, then a TCP RST;
        ``truncate``: send the headers and part of the body, then a TCP RST;
        ``latency``: wait ``latency`` seconds, then carry on (adds to other faults).

    ``times=N`` makes the rule fire on the next N matching requests only (with
    ``probability``), then stop. ``after=True`` runs the real handler first, so that its
    effect happens (a client is created) but the response is lost: an ambiguous failure.
    ``route`` is ``*``, an alias (``token``, ``basic``, ``clients``, ``list-clients``,
    ``delete-client``, ``me``) or a route key such as ``POST /api/v1/auth/jwt/token``.
    """

    route: str = ANY_ROUTE
    kind: Kind = "status"
    status: int = 503
    probability: float = 1.0
    times: int | None = None
    retry_after: int | None = None
    latency: float = 0.0
    after: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "route", canonical_route(self.route))
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"fault status {self.status} is not an HTTP status code")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability {self.probability} is not within 0..1")
        if self.times is not None and self.times < 1:
            raise ValueError(f"fault times {self.times} must be at least 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"fault retry_after {self.retry_after} must not be negative")
        if not 0 <= self.latency <= MAX_LATENCY:  # also false for NaN
            raise ValueError(f"fault latency {self.latency} must be within 0..{MAX_LATENCY} s")

    def to_dict(self) -> dict[str, Any]:
        """
        Return the JSON form used by the control API.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """
        Build a fault from its JSON form; missing keys take their defaults.

        Raises:
            ValueError: on unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"remaining"})
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(unknown)}")
        values = {key: value for key, value in data.items() if key in known}
        _check_types(values)
        return cls(**values)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """
        Build a fault from the CLI's ``key=value,...`` spelling.

        Examples: ``route=token,status=503,probability=0.3``, ``route=token,drop,times=2``,
        ``route=clients,status=502,after``, ``route=*,latency=0.2``, ``429`` (every route).

        Raises:
            ValueError: on an unknown key or a bad value.
        """
        values: dict[str, Any] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, text = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            if not sep:
                flag = {"kind": "status", "status": int(key)} if key.isdigit() else _FLAGS.get(key)
                if flag is None:
                    raise ValueError(f"{item!r} in fault {spec!r} is not a known fault setting")
                values.update(flag)
                continue
            setting = _SETTINGS.get(key)
            if setting is None:
                raise ValueError(f"{item!r} in fault {spec!r} is not a known fault setting")
            name, convert, implied = setting
            values.update(implied)
            try:
                values[name] = convert(text.strip())
            except ValueError:
                raise ValueError(f"fault {key}={text!r} is not valid") from None
        return cls(**values)

    def response(self) -> Response:
        """
        Return the response a ``status`` fault sends, shaped like the layer that fails.
        """
        phrase = _phrase(self.status)
        headers: tuple[tuple[str, str], ...] = ()
        retry_after = self.retry_after
        if retry_after is None and self.status == 429:
            retry_after = 1
        if retry_after is not None:
            headers = (("retry-after", str(retry_after)),)
        if self.status in (502, 504):
            html = _PROXY_HTML.format(code=self.status, phrase=phrase).encode("ascii")
            return Response(self.status, html, "text/html", headers)
        if self.status == 500:
            # Starlette's ServerErrorMiddleware answers an unhandled exception this way.
            return Response(500, b"Internal Server Error", "text/plain; charset=utf-8", headers)
        return json_response(self.status, {"detail": phrase}, headers)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _check_types(values: Mapping[str, Any]) -> None:
    expected: dict[str, tuple[type, ...]] = {
        "route": (str,),
        "kind": (str,),
        "status": (int,),
        "probability": (int, float),
        "times": (int, type(None)),
        "retry_after": (int, type(None)),
        "latency": (int, float),
        "after": (bool,),
    }
    for key, value in values.items():
        if isinstance(value, bool) and key != "after":
            raise ValueError(f"fault {key} must not be a boolean")
        if not isinstance(value, expected[key]):
            raise ValueError(f"fault {key} has the wrong type ({type(value).__name__})")


class _Rule:
    """
    A fault plus its own random stream, so that its sequence depends only on the seed.
    """

    __slots__ = ("fault", "remaining", "rng")

    def __init__(self, fault: Fault, seed: int, index: int) -> None:
        self.fault = fault
        self.remaining = fault.times
        self.rng = random.Random(f"{seed}:{index}")  # noqa: S311 - reproducible, not secret


class FaultInjector:
    """
    The current fault rules and their random streams; thread-safe.
    """

    def __init__(self, faults: Iterable[Fault] = (), seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._seed = 0
        self.configure(faults, seed)

    def configure(self, faults: Iterable[Fault], seed: int | None = None) -> None:
        """
        Replace every rule; a ``None`` seed picks a random one, reported by ``snapshot()``.
        """
        seed = secrets.randbelow(2**32) if seed is None else seed
        rules = [_Rule(fault, seed, index) for index, fault in enumerate(faults)]
        with self._lock:
            self._seed = seed
            self._rules = rules

    def snapshot(self) -> dict[str, Any]:
        """
        Return ``{"seed", "faults": [fault + "remaining"]}`` for the control API.
        """
        with self._lock:
            return {
                "seed": self._seed,
                "faults": [
                    {**rule.fault.to_dict(), "remaining": rule.remaining} for rule in self._rules
                ],
            }

    def decide(self, route: str) -> tuple[float, Fault | None]:
        """
        Return the delay to add and the fault (if any) for one request to *route*.

        Every matching rule that is still armed draws from its own stream on every request,
        so a given seed and request sequence always yields the same decisions.
        """
        if not self._rules:
            return 0.0, None
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                fault = rule.fault
                if fault.route not in (ANY_ROUTE, route) or rule.remaining == 0:
                    continue
                if rule.rng.random() >= fault.probability:
                    continue
                if fault.kind == "latency":
                    delay += fault.latency
                elif chosen is not None:
                    continue
                else:
                    chosen = fault
                if rule.remaining is not None:
                    rule.remaining -= 1
        return delay, chosen
