"""
The one bounded transport: a requests adapter that every request of ours goes through.

For the auth service it reads each answer whole within a wall-clock budget and a byte
limit counted after decompression, and measures the service's clock from ``Date``. For
every request it takes proxies and the CA bundle from the environment explicitly (the
session's ``trust_env`` is off, so ``~/.netrc`` can never replace our Authorization header)
and refuses cleartext to anything but loopback unless allowed.

requests' ``timeout`` bounds each socket read, not the request: the budget is kept by
``_watchdog``, which AWS calls share.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ._clock import ServiceClock
from ._errors import UnexpectedResponse
from ._redaction import register_secret
from ._watchdog import Watchdog, check_cleartext, is_loopback, read_capped, watched_pool

MAX_BODY_BYTES = 1 << 20
USER_AGENT = "spatiafi-ops"
_CHUNK = 64 * 1024
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # what requests reads


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


_WATCHED_POOLS = {
    "http": watched_pool(HTTPConnectionPool),
    "https": watched_pool(HTTPSConnectionPool),
}


def _read_capped(response: requests.Response, cap: int, where: str) -> bytes:
    """
    Return the body of *response*, decoded, or raise once it passes *cap* bytes.
    """
    chunks = response.raw.stream(_CHUNK, decode_content=False)
    try:
        body = read_capped(chunks, response.headers.get("Content-Encoding"), cap, where)
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
    return body


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
        watchdog = Watchdog(budget)
        try:
            with watchdog:
                response = self._exchange(request, budget, verify, cert, proxies)
        except Exception:
            if not watchdog.expired:
                raise
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
