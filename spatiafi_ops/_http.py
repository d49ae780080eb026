"""
HTTP client: requests over the bounded transport, inside one deadline, with tenacity retries.

This is the one boundary where requests' exceptions and HTTP error statuses become the
typed errors of ``_errors``: transient failures (network, timeout, 429, 500,
502, 503, 504) are ``ServiceUnavailable`` and retried with exponential backoff, jitter
and ``Retry-After``; everything else is raised at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from . import _log
from ._clock import ServiceClock
from ._config import Settings
from ._errors import DeadlineExceeded, ServiceError, ServiceUnavailable
from ._responses import raise_for_status
from ._transport import prepare_session

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")
log = _log.get_logger(__name__)
_MAX_CAUSES = 32


@dataclass(frozen=True)
class RetryPolicy:
    """
    Backoff between attempts: exponential from *initial*, capped at *maximum*, plus jitter.
    """

    initial: float = 0.5
    maximum: float = 10.0
    jitter: float = 0.5


DEFAULT_RETRY_POLICY = RetryPolicy()


class Deadline:
    """
    The time budget of one command, shared by every request and retry in it.
    """

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        started: float | None = None,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = (clock() if started is None else started) + seconds

    def remaining(self) -> float:
        """
        Return the seconds left (never negative).
        """
        return max(0.0, self._end - self._clock())


def connect_failed(exc: BaseException) -> bool:
    """
    Return whether *exc* comes from a failure to connect (name resolution, refused,
    connect timeout), so that the request provably never reached the server.

    Decided by urllib3's types down the cause chain (``__cause__``, ``__context__``,
    ``MaxRetryError.reason`` and ``args``), never by the text of a message.
    """
    from urllib3.exceptions import ConnectTimeoutError  # NewConnectionError's base

    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < _MAX_CAUSES:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectTimeoutError):
            return True
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        pending += [item for item in (*linked, *current.args) if isinstance(item, BaseException)]
    return False


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """
    Turn requests' exceptions raised inside the block into ``ServiceUnavailable``.
    """
    try:
        yield
    except requests.exceptions.SSLError:
        raise ServiceError(
            f"TLS verification with {url} failed; check the URL, or the CA bundle "
            "(REQUESTS_CA_BUNDLE) if a proxy re-signs traffic",
            url=url,
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise ServiceUnavailable(
            f"timed out connecting to {url}", url=url, request_sent=False
        ) from None
    except requests.exceptions.Timeout:
        raise ServiceUnavailable(f"timed out waiting for {url}", url=url) from None
    except requests.exceptions.ConnectionError as exc:
        not_sent = connect_failed(exc)
        summary = "could not connect to" if not_sent else "lost the connection to"
        raise ServiceUnavailable(f"{summary} {url}", url=url, request_sent=not not_sent) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        raise ServiceUnavailable(f"received a broken response from {url}", url=url) from None
    except requests.exceptions.RequestException as exc:
        raise ServiceError(f"request to {url} failed: {type(exc).__name__}", url=url) from None


class _RetryAfterOrBackoff:
    """
    Wait what the server asked for in ``Retry-After``, else *backoff* (exponential).
    """

    def __init__(self, backoff: Callable[[tenacity.RetryCallState], float]) -> None:
        self._backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ServiceUnavailable) and exc.retry_after is not None:
            # Honoured in full; a wait past the deadline stops the retries instead.
            return exc.retry_after
        return float(self._backoff(retry_state))


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    # Fields only, never str(exc) of foreign code nor the call's arguments: either may
    # hold a secret.
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    log.warning(
        "request_retrying",
        attempt=retry_state.attempt_number,
        sleep_s=round(retry_state.upcoming_sleep, 3),
        error=type(exc).__name__,
        status=getattr(exc, "status", None),
        url=getattr(exc, "url", None),
    )


class HttpClient:
    """
    Sends requests through the bounded transport, each within the smaller of the request
    timeout and what is left of one deadline, retrying what is transient.

    *clock* measures the service's clock from every answer (a fresh one by default);
    *session* may be shared (fleet keep-alive), and is prepared for the transport.
    """

    def __init__(
        self,
        *,
        timeout: float,
        deadline: Deadline,
        session: requests.Session | None = None,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        clock: ServiceClock | None = None,
        allow_insecure_transport: bool = False,
    ) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.clock = clock if clock is not None else ServiceClock()
        self.session = prepare_session(
            session if session is not None else requests.Session(),
            clock=self.clock,
            timeout=timeout,
            allow_cleartext=allow_insecure_transport,
        )
        self.policy = policy
        self._sleep = sleep

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        deadline: Deadline,
        *,
        session: requests.Session | None = None,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        clock: ServiceClock | None = None,
    ) -> HttpClient:
        """
        Return a client bounded by *settings*' timeout and cleartext rule, within *deadline*.
        """
        return cls(
            timeout=settings.timeout,
            deadline=deadline,
            session=session,
            policy=policy,
            clock=clock,
            allow_insecure_transport=settings.allow_insecure_transport,
        )

    def request_timeout(self, url: str) -> float:
        """
        Return the timeout for the next request: the per-request one, cut by the deadline.
        """
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"the {self.deadline.seconds:g}s deadline was spent before reaching {url}",
                url=url,
            )
        return min(self.timeout, remaining)

    def fetch(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """
        Send one request (no retry) and return the answer, whatever its status.
        """
        with translate_errors(url):
            return self.session.request(
                method, url, timeout=self.request_timeout(url), allow_redirects=False, **kwargs
            )

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """
        Send one request (no retry) and return the response if its status is a success.
        """
        response = self.fetch(method, url, **kwargs)
        raise_for_status(response)
        return response

    def retrying(
        self, call: Callable[[], T], *, retry_if: Callable[[ServiceUnavailable], bool] | None = None
    ) -> T:
        """
        Run *call*, retrying ``ServiceUnavailable`` with backoff until the deadline.

        *retry_if* narrows what is retried (a non-idempotent POST retries only failures
        that provably never reached the server).
        """

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, ServiceUnavailable) or isinstance(exc, DeadlineExceeded):
                return False
            return retry_if is None or retry_if(exc)

        def out_of_time(retry_state: tenacity.RetryCallState) -> bool:
            return self.deadline.remaining() <= retry_state.upcoming_sleep

        failures: list[ServiceUnavailable] = []
        attempts = [0]

        def gave_up() -> DeadlineExceeded:
            last = failures[-1]
            return DeadlineExceeded(
                f"{last} (gave up after {attempts[0]} attempts within the "
                f"{self.deadline.seconds:g}s deadline)",
                status=last.status,
                url=last.url,
            )

        def attempt() -> T:
            cut_short = self.deadline.remaining() < self.timeout
            attempts[0] += 1
            try:
                return call()
            except DeadlineExceeded:
                # Spent between attempts: report what kept failing, not just the clock.
                if failures:
                    raise gave_up() from None
                raise
            except ServiceUnavailable as exc:
                # An attempt the deadline cut short and that got no answer says less about
                # the service than the answers before it: those are what the report names.
                if not (cut_short and exc.status is None and failures):
                    failures.append(exc)
                raise

        try:
            return attempt()
        except ServiceUnavailable as exc:
            if not should_retry(exc):
                raise
            first_failure = [exc]

        def again() -> T:
            if first_failure:
                raise first_failure.pop()  # attempt 1, already made: tenacity waits on it
            return attempt()

        import tenacity  # only once an attempt failed: most succeed first time (make bench)

        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.policy.initial, max=self.policy.maximum, jitter=self.policy.jitter
        )
        retryer = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            wait=_RetryAfterOrBackoff(backoff),
            stop=out_of_time,
            before_sleep=_log_retry,
            sleep=self._sleep,
            reraise=False,
        )
        try:
            return retryer(again)
        except tenacity.RetryError:
            raise gave_up() from None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """
        Send a request, retrying transient failures; for idempotent calls.
        """
        return self.retrying(lambda: self.send(method, url, **kwargs))

    def close(self) -> None:
        """
        Release the connection pool.
        """
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
