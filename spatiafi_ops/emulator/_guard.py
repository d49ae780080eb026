"""
Who may use the control API: requests addressed to this emulator, from no other site's page.

A web page may POST a ``text/plain`` body to any address without asking first (a
CORS-safelisted request in the Fetch standard), and DNS rebinding lets a page's own name
resolve to 127.0.0.1, after which the browser treats the emulator as that page's origin:
only the ``Host`` header still tells. So the control API answers only requests whose
``Host`` is one of the emulator's own addresses, whose ``Origin``, if any, is the emulator
itself, and whose changes come as ``application/json``, which a page can send only after a
CORS preflight that this server never grants.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from ._messages import Request, Response, detail

# Loopback names every local client may use, whatever address was bound.
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCHEME_PORTS = {"http": 80, "https": 443}


def _canonical(host: str) -> str:
    """
    Return *host* lower-cased, an IP address in its one spelling (IPv4-mapped as IPv4).
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _authority(text: str, scheme: str = "http") -> tuple[str, int] | None:
    """
    Return ``(host, port)`` of a ``Host`` value or of an origin's authority, or ``None``.
    """
    if not text or any(c in text for c in "@/?#\\ \t"):
        return None
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return _canonical(parts.hostname), port if port is not None else _SCHEME_PORTS[scheme]


class Guard:
    """
    The control API's gate for one emulator listening on *port*, reachable under *issuer*.
    """

    def __init__(self, port: int, issuer: str) -> None:
        own = {(_canonical(name), port) for name in _LOOPBACK}
        parts = urlsplit(issuer)
        scheme = parts.scheme if parts.scheme in _SCHEME_PORTS else "http"
        issuer_authority = _authority(parts.netloc, scheme)
        if issuer_authority is not None:
            own.add(issuer_authority)
        self._own = frozenset(own)

    def refusal(self, request: Request, arrived_at: Any) -> Response | None:
        """
        Return the answer refusing *request*, or ``None`` if it may go on.

        *arrived_at* is the connection's local address (``getsockname()``): a client that
        reached a wildcard bind through one of this machine's addresses may name it.
        """
        own = self._own | {(_canonical(str(arrived_at[0])), int(arrived_at[1]))}
        host = _authority(request.headers.get("host", "").strip())
        if host is None or host not in own:
            return detail(
                403,
                "the Host header is not this emulator's address; the control API answers "
                "only requests to its own address (start it with --issuer for another name)",
            )
        origin = request.headers.get("origin")
        if origin is not None and not self._own_origin(origin.strip(), own):
            return detail(403, "the control API refuses requests from another origin")
        if request.method not in _SAFE_METHODS and not _is_json(request):
            return detail(415, "the control API takes Content-Type: application/json")
        return None

    @staticmethod
    def _own_origin(origin: str, own: frozenset[tuple[str, int]] | set[tuple[str, int]]) -> bool:
        scheme, sep, authority = origin.partition("://")
        if not sep or scheme.lower() not in _SCHEME_PORTS:
            return False
        return _authority(authority, scheme.lower()) in own


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").partition(";")[0]
    return media_type.strip().lower() == "application/json"
