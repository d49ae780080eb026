"""
Plain request and response values passed between the HTTP server and the route handlers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Request:
    """
    One parsed HTTP request; ``headers`` has lower-case names.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def host(self) -> str:
        """
        Return the ``Host`` header, the authority the client used to reach us.
        """
        return self.headers.get("host", "")


@dataclass(frozen=True)
class Response:
    """
    One HTTP response; the server adds ``date``, ``server`` and ``content-length``.
    """

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """
    Return *data* as a compact JSON response.
    """
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return Response(status, body, "application/json", headers)


def detail(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """
    Return FastAPI's error shape, ``{"detail": text}``.
    """
    return json_response(status, {"detail": text}, headers)


def oauth_error(
    status: int,
    error: str,
    description: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """
    Return RFC 6749 §5.2's error shape; the description never holds a secret.
    """
    data = {"error": error}
    if description is not None:
        data["error_description"] = description
    no_store = (("cache-control", "no-store"), ("pragma", "no-cache"))
    return json_response(status, data, (*no_store, *headers))


def empty(status: int, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """
    Return a response without a body (204, 307).
    """
    return Response(status, b"", None, headers)
