"""
Every error body the service may send becomes one typed error with one clear sentence.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from spatiafi_ops._errors import (
    CredentialsRejected,
    DeadlineExceeded,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    UnexpectedResponse,
)
from spatiafi_ops._http import Deadline, HttpClient, RetryPolicy, connect_failed
from spatiafi_ops._responses import json_object, raise_for_status

URL = "http://127.0.0.1:9/api/v1/auth/jwt/token"
FAST_RETRIES = RetryPolicy(initial=0.1, maximum=0.2, jitter=0.0)


def response(
    status: int, body: bytes | str | dict[str, object], **headers: str
) -> requests.Response:
    """Build the response object requests would hand us (no network, nothing patched)."""
    resp = requests.Response()
    resp.status_code = status
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    resp._content = body.encode() if isinstance(body, str) else body
    resp.headers.update(headers)
    resp.url = URL
    resp.request = requests.Request("POST", URL).prepare()
    return resp


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "fragment"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "bad sig"},
            {},
            CredentialsRejected,
            "bad sig",
        ),
        (400, {"error": "invalid_grant"}, {}, CredentialsRejected, "invalid_grant"),
        (
            400,
            {"detail": "LOGIN_BAD_CREDENTIALS"},
            {},
            CredentialsRejected,
            "LOGIN_BAD_CREDENTIALS",
        ),
        (401, {"detail": "Unauthorized"}, {}, CredentialsRejected, "HTTP 401"),
        (403, "", {}, RequestRejected, "non-JSON body"),
        (403, {"detail": "Forbidden"}, {}, RequestRejected, "Forbidden"),
        (403, {"error": "unauthorized_client"}, {}, CredentialsRejected, "unauthorized_client"),
        (400, {"error": "invalid_request"}, {}, RequestRejected, "invalid_request"),
        (400, {"error": "unsupported_grant_type"}, {}, RequestRejected, "unsupported_grant_type"),
        (
            422,
            {"detail": [{"loc": ["body"], "msg": "field required"}]},
            {},
            RequestRejected,
            "field required",
        ),
        (404, {"detail": "Not Found"}, {}, RequestRejected, "Not Found"),
        (429, {"detail": "slow down"}, {"Retry-After": "3"}, ServiceUnavailable, "HTTP 429"),
        (500, "", {}, ServiceUnavailable, "non-JSON body"),
        (
            502,
            "<html><body>Bad gateway</body></html>",
            {"Content-Type": "text/html"},
            ServiceUnavailable,
            "text/html",
        ),
        (
            503,
            {"error": "temporarily_unavailable"},
            {},
            ServiceUnavailable,
            "temporarily_unavailable",
        ),
        (504, b"\xff\xfe", {}, ServiceUnavailable, "non-JSON"),
        (501, "", {}, UnexpectedResponse, "HTTP 501"),
    ],
)
def test_error_statuses_map_to_typed_errors(
    status: int,
    body: str | dict[str, object],
    headers: dict[str, str],
    error: type[ServiceError],
    fragment: str,
) -> None:
    """RFC 6749 and FastAPI bodies, HTML and empty bodies: each one typed error, one line."""
    with pytest.raises(error) as caught:
        raise_for_status(response(status, body, **headers))
    assert type(caught.value) is error
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert caught.value.status == status


def test_retry_after_is_parsed_in_seconds_and_http_date() -> None:
    """Retry-After as delay-seconds or as an HTTP-date (RFC 9110 §10.2.3)."""
    with pytest.raises(ServiceUnavailable) as seconds:
        raise_for_status(response(429, "", **{"Retry-After": "2.5"}))
    assert seconds.value.retry_after == 2.5
    with pytest.raises(ServiceUnavailable) as past_date:
        raise_for_status(response(503, "", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert past_date.value.retry_after == 0.0


def test_error_details_are_truncated_and_made_printable() -> None:
    """A huge or control-character-laden detail cannot flood or forge log lines."""
    with pytest.raises(RequestRejected) as caught:
        raise_for_status(response(400, {"detail": "x\n" * 5000}))
    assert len(str(caught.value)) < 400
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"token_type": "bearer"}, "without access_token"),
        ("<html>ok</html>", "non-JSON body"),
        ('{"access_token": "abc"', "non-JSON body"),
        ("[]", "not an object"),
        ({"access_token": None}, "without access_token"),
    ],
)
def test_a_200_without_a_token_is_an_error_not_a_token(
    body: str | dict[str, object], fragment: str
) -> None:
    """Success statuses still need the documented body."""
    with pytest.raises(UnexpectedResponse, match=fragment):
        json_object(response(200, body), ("access_token",))


def test_the_code_and_description_are_kept_as_attributes() -> None:
    """Callers decide on .error and .detail, never on the message text."""
    with pytest.raises(RequestRejected) as rejected:
        raise_for_status(response(404, {"detail": "Not Found"}))
    assert (rejected.value.error, rejected.value.detail) == ("Not Found", "Not Found")
    with pytest.raises(CredentialsRejected) as refused:
        raise_for_status(
            response(401, {"error": "invalid_client", "error_description": "iat in future"})
        )
    assert (refused.value.error, refused.value.detail) == ("invalid_client", "iat in future")
    with pytest.raises(ServiceUnavailable) as unavailable:
        raise_for_status(response(503, "<html>down</html>"))
    assert (unavailable.value.error, unavailable.value.detail) == (None, None)


SECRET = "scrub-me-first-0123456789"


@pytest.fixture(name="registered")
def _registered() -> Iterator[str]:
    from spatiafi_ops._redaction import forget_secrets, register_secret

    register_secret(SECRET)
    yield SECRET
    forget_secrets()


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "x" * 185 + SECRET},
        {"error": "invalid_request", "error_description": "y" * 185 + SECRET},
        {"detail": [{"msg": "z" * 150 + SECRET + '"quoted"'}]},
        {"detail": [{"loc": ["body"], "msg": SECRET}] * 3},
    ],
    ids=["detail-cut", "description-cut", "structured-cut", "structured"],
)
def test_a_secret_is_scrubbed_before_the_detail_is_cut_or_escaped(
    registered: str, body: dict[str, object]
) -> None:
    """Cutting at 200 characters or JSON-escaping first would leave a piece of it."""
    with pytest.raises(RequestRejected) as caught:
        raise_for_status(response(400, body))
    for text in (str(caught.value), caught.value.detail or "", caught.value.error or ""):
        for start in range(len(registered) - 7):
            assert registered[start : start + 8] not in text


def test_control_characters_from_the_network_are_not_printed() -> None:
    """Terminal escapes, bidi overrides and line breaks in a detail or header are written out."""
    with pytest.raises(RequestRejected) as caught:
        raise_for_status(response(400, {"detail": "a\x1b[2Jb\u202ec\nd\x07e"}))
    assert caught.value.detail == "a\\x1b[2Jb\\u202ec\\nd\\x07e"
    with pytest.raises(UnexpectedResponse) as redirect:
        raise_for_status(response(307, "", Location="http://x/\x1b]0;t\x07"))
    assert "\x1b" not in str(redirect.value)
    with pytest.raises(UnexpectedResponse) as typed:
        json_object(response(200, "<html>", **{"Content-Type": "text/\x1b[2Jhtml"}), ("a",))
    assert "\x1b" not in str(typed.value)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000])
def test_deeply_nested_json_is_not_json_to_us(body: bytes) -> None:
    """The parser's RecursionError is an unexpected answer (exit 4), never a bug (exit 1)."""
    with pytest.raises(UnexpectedResponse, match="non-JSON"):
        json_object(response(200, body), ("access_token",))
    with pytest.raises(RequestRejected, match="non-JSON"):
        raise_for_status(response(400, body))


def _connection_error(reason: BaseException) -> requests.exceptions.ConnectionError:
    """What requests raises for *reason*: a ConnectionError wrapping urllib3's MaxRetryError."""
    from urllib3.exceptions import MaxRetryError

    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def _chained(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise OSError("wrapped") from exc
    except OSError as outer:
        return outer


@pytest.mark.parametrize(
    ("exc", "not_sent"),
    [
        (_connection_error(NewConnectionError(None, "refused")), True),  # type: ignore[arg-type]
        (
            _connection_error(NameResolutionError("h", None, socket.gaierror())),  # type: ignore[arg-type]
            True,
        ),
        (_connection_error(ConnectTimeoutError("slow connect")), True),
        (_chained(NewConnectionError(None, "refused")), True),  # type: ignore[arg-type]
        (_connection_error(ProtocolError("reset", ConnectionResetError())), False),
        (_connection_error(ReadTimeoutError(None, "/", "slow read")), False),  # type: ignore[arg-type]
        (requests.exceptions.ConnectionError("NewConnectionError in the text only"), False),
    ],
    ids=["refused", "no-such-name", "connect-timeout", "cause-chain", "reset", "read", "text"],
)
def test_connect_failures_are_told_apart_by_type(exc: BaseException, not_sent: bool) -> None:
    """A request that never left is safe to repeat: decided down the cause chain by type,
    never by the words of a message."""
    assert connect_failed(exc) is not_sent


def test_an_attempt_the_deadline_cut_short_does_not_hide_the_answers_before_it() -> None:
    """Two 502s, then an attempt with less than a timeout left that gets no answer: the
    error names the 502 the service kept sending, not the timeout our deadline caused.
    (A fake clock and sleep: the test is about which failure is reported, not time.)"""
    now = [0.0]
    attempts: list[ServiceUnavailable] = [
        ServiceUnavailable("the service answered HTTP 502", status=502, url=URL),
        ServiceUnavailable("the service answered HTTP 502", status=502, url=URL),
        ServiceUnavailable("no answer within 0.4s", url=URL),
    ]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def call() -> None:
        if len(attempts) == 1:
            now[0] = 4.9  # the last attempt starts with less than a timeout left
        raise attempts.pop(0)

    client = HttpClient(
        timeout=10, deadline=Deadline(5, clock=lambda: now[0]), sleep=sleep, policy=FAST_RETRIES
    )
    with pytest.raises(DeadlineExceeded) as caught:
        client.retrying(call)
    assert caught.value.status == 502
    assert "HTTP 502" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)
