"""
HTTP transport: a requests.Session with timeouts, a deadline and tenacity retries.

This is the one boundary where requests' exceptions and HTTP error statuses become the
typed errors of ``_errors`` (SPEC §6): transient failures (network, timeout, 429, 500,
502, 503, 504) are ``ServiceUnavailable`` and retried with exponential backoff, jitter
and ``Retry-After``; everything else is raised at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import tenacity

from . import _log
from ._errors import (
    CredentialsRejected,
    DeadlineExceeded,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    UnexpectedResponse,
)

T = TypeVar("T")
log = _log.get_logger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# 4xx answers that mean "these credentials are not accepted" (exit 3), in both the
# RFC 6749 {"error": ...} and the FastAPI {"detail": ...} dialects.
REJECTION_CODES = frozenset(
    {
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "login_bad_credentials",
        "unauthorized",
        "not authenticated",
        "login_user_not_verified",
    }
)
MAX_DETAIL = 200
MAX_BODY_BYTES = 1 << 20
USER_AGENT = "spatiafi-ops"


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


def _retry_after(response: requests.Response) -> float | None:
    # RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
    value = response.headers.get("Retry-After")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _error_code_and_detail(response: requests.Response) -> tuple[str | None, str]:
    """
    Return the machine code and a short, printable description of an error body.
    """
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip() or "no type"
    try:
        body = response.json()
    except ValueError:
        size = len(response.content)
        return None, f"non-JSON body ({content_type}, {size} bytes)"
    code: str | None = None
    detail = ""
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            code = body["error"]
            detail = str(body.get("error_description") or code)
        elif isinstance(body.get("detail"), str):
            code = body["detail"]
            detail = code
        elif "detail" in body:
            detail = json.dumps(body["detail"])[:MAX_DETAIL]
    if not detail:
        detail = f"unexpected JSON error body ({content_type})"
    printable = "".join(ch if ch.isprintable() else "?" for ch in detail)
    return code, printable[:MAX_DETAIL]


def raise_for_status(response: requests.Response) -> None:
    """
    Raise the typed error that an unsuccessful *response* stands for.
    """
    status = response.status_code
    if status < 300:
        return
    method = response.request.method if response.request is not None else "request"
    url = response.url
    where = f"{method} {url}"
    if status < 400:
        # Following would resend the credentials (Basic header, assertion) elsewhere.
        target = response.headers.get("Location", "nowhere")
        raise UnexpectedResponse(
            f"{where} redirected (HTTP {status}) to {target[:MAX_DETAIL]}; redirects are not "
            "followed since they would carry the credentials: check --auth-url",
            status=status,
            url=url,
        )
    code, detail = _error_code_and_detail(response)
    if status in TRANSIENT_STATUSES:
        raise ServiceUnavailable(
            f"{where} failed with HTTP {status}: {detail}",
            status=status,
            url=url,
            retry_after=_retry_after(response),
        )
    # A bare 403 is as likely a gateway's as the service's verdict on the credentials, and
    # "rejected" makes `ensure` replace them: only 401 or a credential error code counts.
    if status == 401 or (code is not None and code.lower() in REJECTION_CODES):
        raise CredentialsRejected(
            f"the service rejected the credentials ({where}: HTTP {status}, {detail}); "
            "check them, or create new ones",
            status=status,
            url=url,
            error=code,
        )
    if status < 500:
        raise RequestRejected(
            f"{where} was refused with HTTP {status}: {detail}", status=status, url=url
        )
    raise UnexpectedResponse(f"{where} failed with HTTP {status}: {detail}", status=status, url=url)


def json_object(response: requests.Response, required: tuple[str, ...]) -> dict[str, Any]:
    """
    Return the JSON object body of a successful *response*, with *required* keys holding
    non-empty strings.

    Raises:
        UnexpectedResponse: for non-JSON (or non-UTF-8), non-object or incomplete bodies.
    """
    where = f"{response.request.method if response.request else 'request'} {response.url}"
    if len(response.content) > MAX_BODY_BYTES:
        raise UnexpectedResponse(f"{where} answered with an oversized body", url=response.url)
    try:
        # RFC 8259 §8.1: JSON is UTF-8; no guessing, no replacement characters.
        body = json.loads(response.content.decode("utf-8"))
    except ValueError:
        content_type = response.headers.get("Content-Type", "no type")
        raise UnexpectedResponse(
            f"{where} answered HTTP {response.status_code} with a non-JSON body ({content_type})",
            status=response.status_code,
            url=response.url,
        ) from None
    if not isinstance(body, dict):
        raise UnexpectedResponse(
            f"{where} answered with JSON that is not an object", url=response.url
        )
    missing = [key for key in required if not isinstance(body.get(key), str) or not body[key]]
    if missing:
        raise UnexpectedResponse(
            f"{where} answered HTTP {response.status_code} without {', '.join(missing)}",
            status=response.status_code,
            url=response.url,
        )
    return body


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
        reason = str(exc.args[0]) if exc.args else ""
        not_sent = "NewConnectionError" in reason or "NameResolutionError" in reason
        summary = "could not connect to" if not_sent else "lost the connection to"
        raise ServiceUnavailable(f"{summary} {url}", url=url, request_sent=not not_sent) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        raise ServiceUnavailable(f"received a broken response from {url}", url=url) from None
    except requests.exceptions.RequestException as exc:
        raise ServiceError(f"request to {url} failed: {type(exc).__name__}", url=url) from None


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """
    Wait what the server asked for in ``Retry-After``, else exponential backoff.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.initial, max=policy.maximum, jitter=policy.jitter
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ServiceUnavailable) and exc.retry_after is not None:
            # Honoured in full; a wait past the deadline stops the retries instead.
            return exc.retry_after
        return float(self._backoff(retry_state))


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    # Fields only, never str(exc) of foreign code nor the call's arguments (reference §3).
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
    Sends requests with a per-request timeout, inside one deadline, retrying what is transient.
    """

    def __init__(
        self,
        *,
        timeout: float,
        deadline: Deadline,
        session: requests.Session | None = None,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.session = session if session is not None else requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.policy = policy
        self._sleep = sleep

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

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """
        Send one request (no retry) and return the response if its status is a success.
        """
        with translate_errors(url):
            response = self.session.request(
                method, url, timeout=self.request_timeout(url), allow_redirects=False, **kwargs
            )
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

        def gave_up() -> DeadlineExceeded:
            last = failures[-1]
            return DeadlineExceeded(
                f"{last} (gave up after {len(failures)} attempts within the "
                f"{self.deadline.seconds:g}s deadline)",
                status=last.status,
                url=last.url,
            )

        def attempt() -> T:
            try:
                return call()
            except DeadlineExceeded:
                # Spent between attempts: report what kept failing, not just the clock.
                if failures:
                    raise gave_up() from None
                raise
            except ServiceUnavailable as exc:
                failures.append(exc)
                raise

        retryer = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            wait=_RetryAfterOrBackoff(self.policy),
            stop=out_of_time,
            before_sleep=_log_retry,
            sleep=self._sleep,
            reraise=False,
        )
        try:
            return retryer(attempt)
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
