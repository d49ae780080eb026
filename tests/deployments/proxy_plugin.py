"""
A proxy.py plugin that makes a proxy on 127.0.0.1 behave as a corporate proxy on another
host: ``*.spatiafi.test`` resolve to this machine (the test's services), every other host
is unknown to it, and this machine's loopback is out of its reach (502, as a proxy elsewhere
answers for its own 127.0.0.1). Each request it handles, CONNECT or absolute-form, is
appended to the file ``$SPATIAFI_TEST_PROXY_LOG`` names.

Loaded by the proxy's own process (``python -m proxy --plugins``), never by the tests.
"""

from __future__ import annotations

import os
from typing import Any

from proxy.http.exception import HttpRequestRejected
from proxy.http.proxy import HttpProxyBasePlugin

KNOWN_SUFFIX = ".spatiafi.test"


class FarAwayProxy(HttpProxyBasePlugin):
    """
    Record, then route ``*.spatiafi.test`` to 127.0.0.1 and refuse everything else.
    """

    def before_upstream_connection(self, request: Any) -> Any:
        host = (request.host or b"").decode("ascii", "replace")
        method = (request.method or b"").decode("ascii", "replace")
        with open(os.environ["SPATIAFI_TEST_PROXY_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{method} {host}:{request.port}\n")
        if not host.endswith(KNOWN_SUFFIX):
            raise HttpRequestRejected(status_code=502, reason=b"Bad Gateway")
        return request

    def resolve_dns(self, host: str, port: int) -> tuple[str | None, Any]:
        return ("127.0.0.1" if host.endswith(KNOWN_SUFFIX) else None), None
