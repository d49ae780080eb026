"""
Every error body the service may send becomes one typed error with one clear sentence.
"""

from __future__ import annotations

import json

import pytest
import requests

from spatiafi_ops._errors import (
    CredentialsRejected,
    RequestRejected,
    ServiceError,
    ServiceUnavailable,
    UnexpectedResponse,
)
from spatiafi_ops._responses import json_object, raise_for_status

URL = "http://127.0.0.1:9/api/v1/auth/jwt/token"


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
