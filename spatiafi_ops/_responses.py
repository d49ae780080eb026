"""
What the service answered, read defensively: status → typed error, body → JSON object.

Everything taken from an answer into a message or an exception attribute is scrubbed of
registered secrets *first*, then stripped of control characters, then cut short: cutting
or escaping first could split a secret (or its base64) where scrubbing no longer sees it.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import requests

from ._errors import (
    CredentialsRejected,
    RequestRejected,
    ServiceUnavailable,
    UnexpectedResponse,
)
from ._redaction import MAX_DETAIL, printable, scrub

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
_MAX_DEPTH = 8  # of a structured detail shown in a message


def parse_json(content: bytes) -> Any:
    """
    Return the JSON document in *content* (RFC 8259 §8.1: UTF-8, no guessing).

    Raises:
        ValueError: for bytes that are not UTF-8 JSON, or nest too deeply to parse.
    """
    try:
        return json.loads(content.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _scrubbed(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item, depth + 1) for item in value[:20]]
    if isinstance(value, dict):
        return {scrub(str(k)): _scrubbed(v, depth + 1) for k, v in list(value.items())[:20]}
    return value


def _content_type(response: requests.Response) -> str:
    value = response.headers.get("Content-Type", "").split(";")[0].strip()
    return printable(value, limit=60) or "no type"


def error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """
    Return the machine code and the description of an error body, each scrubbed and
    printable, or ``None`` where the body has none (RFC 6749 §5.2, or FastAPI's).
    """
    try:
        body = parse_json(response.content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description, detail = (
        body.get("error"),
        body.get("error_description"),
        body.get("detail"),
    )
    if isinstance(error, str) and error:
        shown = (
            printable(description, limit=MAX_DETAIL)
            if isinstance(description, str) and description
            else None
        )
        return printable(error, limit=80), shown
    if isinstance(detail, str) and detail:
        return printable(detail, limit=80), printable(detail, limit=MAX_DETAIL)
    if detail is not None:
        # FastAPI's 422 list: secrets scrubbed in each string before any JSON escaping.
        return None, printable(json.dumps(_scrubbed(detail), ensure_ascii=False), limit=MAX_DETAIL)
    return None, None


def _undescribed(response: requests.Response) -> str:
    try:
        parse_json(response.content)
    except ValueError:
        return f"non-JSON body ({_content_type(response)}, {len(response.content)} bytes)"
    return f"unexpected JSON error body ({_content_type(response)})"


def _retry_after(response: requests.Response) -> float | None:
    # RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
    from ._clock import parse_http_date

    value = response.headers.get("Retry-After")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        seconds = float(value)
        return seconds if seconds >= 0 else 0.0  # nan and inf become the deadline's problem
    when = parse_http_date(value)
    return None if when is None else max(0.0, when - time.time())


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
        target = printable(response.headers.get("Location", "nowhere"), limit=MAX_DETAIL)
        raise UnexpectedResponse(
            f"{where} redirected (HTTP {status}) to {target}; redirects are not "
            "followed since they would carry the credentials: check --auth-url",
            status=status,
            url=url,
        )
    code, detail = error_body(response)
    said = detail or code or _undescribed(response)
    fields: dict[str, Any] = {"status": status, "url": url, "error": code, "detail": detail}
    if status in TRANSIENT_STATUSES:
        raise ServiceUnavailable(
            f"{where} failed with HTTP {status}: {said}",
            retry_after=_retry_after(response),
            **fields,
        )
    # A bare 403 is as likely a gateway's as the service's verdict on the credentials, and
    # "rejected" makes `ensure` replace them: only 401 or a credential error code counts.
    if status == 401 or (code is not None and code.lower() in REJECTION_CODES):
        raise CredentialsRejected(
            f"the service rejected the credentials ({where}: HTTP {status}, {said}); "
            "check them, or create new ones",
            **fields,
        )
    if status < 500:
        raise RequestRejected(f"{where} was refused with HTTP {status}: {said}", **fields)
    raise UnexpectedResponse(f"{where} failed with HTTP {status}: {said}", **fields)


def json_object(response: requests.Response, required: tuple[str, ...]) -> dict[str, Any]:
    """
    Return the JSON object body of a successful *response*, with *required* keys holding
    non-empty strings.

    Raises:
        UnexpectedResponse: for non-JSON (or non-UTF-8, or too deeply nested), non-object
            or incomplete bodies.
    """
    where = f"{response.request.method if response.request else 'request'} {response.url}"
    try:
        body = parse_json(response.content)
    except ValueError:
        raise UnexpectedResponse(
            f"{where} answered HTTP {response.status_code} with a non-JSON body "
            f"({_content_type(response)})",
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
