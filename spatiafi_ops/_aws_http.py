"""
AWS calls over the bounds the SpatiaFi transport keeps (``_watchdog``): one wall-clock
budget over every attempt's headers and body, a body cap, and no cleartext beyond loopback.

botocore's per-read timeouts never bound a request that trickles. Its HTTP session is
kept (proxies, CA bundle, pools), with pools whose sockets the watchdog watches; it sends
through botocore's documented ``before-send`` event, whose answer botocore takes instead of
sending itself. Imported only once botocore is known to be installed.
"""

from __future__ import annotations

import time
from typing import Any

import botocore.awsrequest
import botocore.exceptions
import botocore.httpsession
from urllib3.exceptions import HTTPError as Urllib3Error

from ._errors import DeadlineExceeded, UnexpectedResponse
from ._watchdog import Watchdog, check_cleartext, read_capped, watched_pool

# A Secrets Manager answer holds one secret value of at most 64 KiB (its quota), as JSON.
MAX_BODY_BYTES = 1 << 20
_CHUNK = 64 * 1024
_POOLS = {
    "http": watched_pool(botocore.awsrequest.AWSHTTPConnectionPool),
    "https": watched_pool(botocore.awsrequest.AWSHTTPSConnectionPool),
}


class _Body:
    """
    A body already read, as botocore's ``AWSResponse`` reads its ``raw``.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> list[bytes]:
        return [self._data]


class BoundedSession(botocore.httpsession.URLLib3Session):  # type: ignore[misc]
    """
    botocore's HTTP session, bounded: every request gets what is left of the budget that
    ends at *deadline* (``time.monotonic()``), its body is read under a cap, and ``http://``
    beyond loopback is refused unless *allow_cleartext*.
    """

    def __init__(self, *, deadline: float, allow_cleartext: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline
        self._allow_cleartext = allow_cleartext
        # botocore.httpsession: the classes its pool managers make pools of.
        self._pool_classes_by_scheme = _POOLS
        self._manager.pool_classes_by_scheme = _POOLS

    def on_before_send(self, request: Any, **_kwargs: Any) -> Any:
        """
        The ``before-send`` handler: send *request* ourselves and return the answer.
        """
        return self.send(request)

    def send(self, request: Any) -> Any:
        proxy = self._proxy_config.proxy_url_for(request.url)
        check_cleartext(request.url, proxy, allowed=self._allow_cleartext)
        budget = self._deadline - time.monotonic()
        if budget <= 0:
            raise DeadlineExceeded(f"the deadline was spent before calling {request.url}")
        request.stream_output = True  # read below, under the cap
        watchdog = Watchdog(budget)
        try:
            with watchdog:
                response = super().send(request)
                body = self._read(request, response)
        except Exception:
            if not watchdog.expired:
                raise
        if watchdog.expired:
            # Even an answer that looks whole: a shut-down socket reads as its end.
            raise DeadlineExceeded(f"{request.url} gave no complete answer within {budget:.0f}s")
        return botocore.awsrequest.AWSResponse(
            request.url, response.status_code, response.headers, _Body(body)
        )

    def _read(self, request: Any, response: Any) -> bytes:
        raw = response.raw
        where = f"{request.method} {request.url}"
        try:
            chunks = raw.stream(_CHUNK, decode_content=False)
            body = read_capped(
                chunks, response.headers.get("Content-Encoding"), MAX_BODY_BYTES, where
            )
        except (Urllib3Error, OSError) as exc:
            raw.close()
            # Retried, as botocore retries a connection lost in the middle of an answer.
            raise botocore.exceptions.ResponseStreamingError(error=exc) from None
        except BaseException:
            raw.close()
            raise
        if len(body) > MAX_BODY_BYTES:
            raw.close()
            raise UnexpectedResponse(
                f"{where} answered with a body over {MAX_BODY_BYTES // 1024} KiB; "
                "stopped reading it",
                status=response.status_code,
            )
        raw.release_conn()
        return body
