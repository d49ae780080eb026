"""
The one bounded transport: a requests adapter that every request of ours goes through.

For the auth service it reads each answer whole within a wall-clock budget and a byte
limit counted after decompression, and measures the service's clock from ``Date``. For
every request it takes proxies and the CA bundle from the environment explicitly (the
session's ``trust_env`` is off, so ``~/.netrc`` can never replace our Authorization header)
and refuses cleartext to anything but loopback unless allowed.

requests' ``timeout`` bounds each socket read, not the request: a server that trickles a
byte a second never trips it. Here a watchdog timer shuts the request's socket down when
its budget is spent, and the blocked read fails at once (urllib3's pools hand us the
sockets as they connect; a ``ContextVar`` says which request they serve).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import socket
import sys
import threading
import time
import zlib
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ._clock import ServiceClock
from ._errors import InsecureTransport, UnexpectedResponse
from ._redaction import register_secret

MAX_BODY_BYTES = 1 << 20
USER_AGENT = "spatiafi-ops"
_CHUNK = 64 * 1024
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # what requests reads


def is_loopback(host: str) -> bool:
    """
    Return whether *host* names this machine: ``localhost``, 127.0.0.0/8 or ``::1``.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_cleartext(url: str, proxy: str | None, *, allowed: bool) -> None:
    """
    Refuse an ``http://`` request that would leave this machine in cleartext.

    Raises:
        InsecureTransport: for ``http://`` to a host (or through a proxy) not on loopback.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allowed or parts.scheme.lower() != "http":
        return
    if not is_loopback(host):
        raise InsecureTransport(
            f"refusing to send credentials in cleartext to http://{host}; use https://, or "
            "pass --allow-insecure-transport (SPATIAFI_ALLOW_INSECURE_TRANSPORT=1) "
            "if the network is trusted"
        )
    proxy_host = (
        urlsplit(proxy if "://" in proxy else "http://" + proxy).hostname if proxy else None
    )
    if proxy_host is not None and not is_loopback(proxy_host):
        # A proxy problem, not a transport choice: the flag would send the password through
        # the proxy in cleartext (loopback is only proxied when a caller names a proxy).
        raise InsecureTransport(
            f"refusing to send credentials in cleartext through the proxy at {proxy_host}; "
            f"add {host} to NO_PROXY"
        )


def environ_ca_bundle() -> str | None:
    """
    Return the CA bundle that ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` names, if any.
    """
    for name in _CA_BUNDLE_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def environ_proxies(url: str) -> dict[str, str]:
    """
    Return the proxies the environment names for *url* (``*_PROXY``, ``NO_PROXY``), by
    scheme; none for a loopback host.

    Loopback never goes through a proxy, as in Go's net/http (golang.org/x/net/http/
    httpproxy, ``useProxy``): a proxy elsewhere cannot reach this machine's 127.0.0.1, and
    requests alone would send it there unless ``NO_PROXY`` named it. A proxy's password is
    registered for scrubbing: it is a secret of its own.
    """
    if is_loopback(urlsplit(url).hostname or ""):
        return {}
    proxies = dict(requests.utils.get_environ_proxies(url))
    for proxy in proxies.values():
        userinfo = urlsplit(proxy if "://" in proxy else "//" + proxy).netloc.rpartition("@")[0]
        register_secret(userinfo.partition(":")[2])
    return proxies


def proxy_for(url: str) -> str | None:
    """
    Return the proxy the environment routes *url* through, ``None`` for a direct one.
    """
    return requests.utils.select_proxy(url, environ_proxies(url))


def _shutdown(sock: Any) -> None:
    # The plain socket under TLS (and under TLS-in-TLS): SSLSocket.shutdown would unwrap
    # the TLS object under the feet of the thread reading it.
    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Alarms:
    """
    One daemon thread that fires every request's watchdog when its budget is spent: a
    timer thread per request cost a fleet run more than its requests did (make bench).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def set(self, seconds: float, watchdog: _Watchdog) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), watchdog))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spatiafi-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, watchdog = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, threading.TIMEOUT_MAX))
                    continue
                heapq.heappop(self._heap)
            watchdog.expire()

    def forget_thread(self) -> None:
        # After fork the child has no such thread: start one on the next request.
        self._cond = threading.Condition()
        self._thread = None


_ALARMS = _Alarms()
if sys.platform != "win32":
    os.register_at_fork(after_in_child=_ALARMS.forget_thread)


class _Watchdog:
    """
    Shuts down the sockets of one request once its budget is spent.
    """

    def __init__(self, budget: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self._stopped = False
        self.expired = False
        self._budget = budget

    def __enter__(self) -> _Watchdog:
        _ALARMS.set(self._budget, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._stopped = True
            self._sockets.clear()

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:  # connected after the budget ran out
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


_CURRENT_WATCHDOG: ContextVar[_Watchdog | None] = ContextVar("spatiafi_watchdog", default=None)


def _watched(sock: Any) -> None:
    # The socket itself, not the connection: http.client detaches it from the connection
    # (sock = None) once a "Connection: close" answer's headers are read.
    watchdog = _CURRENT_WATCHDOG.get()
    if watchdog is not None and sock is not None:
        watchdog.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self.sock)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watched(getattr(connection, "sock", None))  # kept alive: no connect() again
        return connection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watched(getattr(connection, "sock", None))
        return connection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


def _decoder(coding: str | None, where: str) -> Any:
    # We ask for identity (RFC 9110 §12.5.3); a coding sent anyway is decoded under the
    # same cap, in bounded steps, so that a small bomb never inflates past it.
    name = (coding or "identity").strip().lower()
    if name == "identity":
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise UnexpectedResponse(
        f"{where} answered in a content coding that was not asked for and is not read "
        f"({name[:20].encode('ascii', 'replace').decode()!r})"
    )


def _read_capped(response: requests.Response, cap: int, where: str) -> bytes:
    """
    Return the body of *response*, decoded, or raise once it passes *cap* bytes.
    """
    decoder = _decoder(response.headers.get("Content-Encoding"), where)
    body = bytearray()
    try:
        for chunk in response.raw.stream(_CHUNK, decode_content=False):
            body += chunk if decoder is None else decoder.decompress(chunk, cap + 1 - len(body))
            if len(body) > cap:
                break
        if decoder is not None and len(body) <= cap:
            body += decoder.flush()
    except zlib.error:
        raise UnexpectedResponse(f"{where} answered with a body that does not decompress") from None
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc, request=response.request) from None
    except (ProtocolError, Urllib3SSLError, OSError) as exc:
        raise requests.exceptions.ChunkedEncodingError(exc, request=response.request) from None
    if len(body) > cap:
        raise UnexpectedResponse(
            f"{where} answered HTTP {response.status_code} with a body over "
            f"{cap // 1024} KiB; stopped reading it",
            status=response.status_code,
            url=response.url,
        )
    return bytes(body)


def _budget(timeout: Any, default: float) -> float:
    if isinstance(timeout, int | float):
        return float(timeout)
    if isinstance(timeout, tuple):
        return float(sum(part for part in timeout if part is not None)) or default
    return default


class BoundedAdapter(HTTPAdapter):
    """
    requests' adapter with a wall-clock budget, a body cap, the service's clock, explicit
    proxies and CA bundle, and no cleartext beyond loopback.

    Requests under *bounded_prefix* (all, when empty) are the auth service's: ``timeout``
    is the budget of the whole request, headers and body, and the body is read at once.
    Others (API calls through ``get_session``) stream as requests does.
    """

    def __init__(
        self,
        *,
        clock: ServiceClock,
        default_timeout: float,
        allow_cleartext: bool = False,
        bounded_prefix: str = "",
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.default_timeout = default_timeout
        self.allow_cleartext = allow_cleartext
        self.bounded_prefix = bounded_prefix.lower()
        self.max_body = max_body
        self.ca_bundle = environ_ca_bundle()
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def proxies_for(self, url: str) -> dict[str, str]:
        """
        Return the environment's proxies for *url*, read once per scheme and host.
        """
        parts = urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc.lower())
        found = self._proxies.get(key)
        if found is None:
            found = self._proxies[key] = environ_proxies(url)
        return found

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        proxies = proxies or self.proxies_for(url)
        check_cleartext(
            url, requests.utils.select_proxy(url, proxies), allowed=self.allow_cleartext
        )
        if verify is True and self.ca_bundle:
            verify = self.ca_bundle
        if not url.lower().startswith(self.bounded_prefix):
            return super().send(request, stream, timeout, verify, cert, proxies)
        budget = _budget(timeout, self.default_timeout)
        request.headers["Accept-Encoding"] = "identity"
        watchdog = _Watchdog(budget)
        bound = _CURRENT_WATCHDOG.set(watchdog)
        try:
            with watchdog:
                response = self._exchange(request, budget, verify, cert, proxies)
        except Exception:
            if not watchdog.expired:
                raise
        finally:
            _CURRENT_WATCHDOG.reset(bound)
        if watchdog.expired:
            # Even an answer that looks whole: a shut-down socket reads as the end of the
            # headers or of an unframed body.
            raise requests.exceptions.ReadTimeout(
                f"no complete answer within {budget:g}s", request=request
            )
        return response

    def _exchange(
        self,
        request: requests.PreparedRequest,
        budget: float,
        verify: bool | str,
        cert: Any,
        proxies: dict[str, str],
    ) -> requests.Response:
        sent = self.clock.local()
        response = super().send(request, True, budget, verify, cert, proxies)
        self.clock.observe(response.headers.get("Date"), sent=sent, received=self.clock.local())
        where = f"{request.method} {request.url}"
        try:
            response._content = _read_capped(response, self.max_body, where)
        except BaseException:
            response.raw.close()  # read in part: the connection is not reusable
            raise
        finally:
            response.raw.release_conn()
        return response


def prepare_session(
    session: requests.Session,
    *,
    clock: ServiceClock,
    timeout: float,
    allow_cleartext: bool = False,
    bounded_prefix: str = "",
) -> requests.Session:
    """
    Make *session* send through a ``BoundedAdapter`` and never read the environment itself.

    ``trust_env`` off: requests would otherwise put ``~/.netrc`` credentials in place of a
    header-borne Authorization, and read proxies and CA per request (the adapter reads them
    once). A session already prepared keeps its adapter, prefix and connections, and takes
    the other arguments.
    """
    current = session.adapters.get("https://")
    if isinstance(current, BoundedAdapter):
        current.clock = clock
        current.default_timeout = timeout
        current.allow_cleartext = allow_cleartext
        return session
    session.trust_env = False
    adapter = BoundedAdapter(
        clock=clock,
        default_timeout=timeout,
        allow_cleartext=allow_cleartext,
        bounded_prefix=bounded_prefix,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
