"""
The emulator's settings as value objects, with the documented defaults (docs/emulator.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._faults import Fault

DEFAULT_EMAIL = "null@example.com"
DEFAULT_PASSWORD = "example_password123"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_API_AUDIENCE = "https://api.spatiafi.com"
ACCESS_TOKEN_LIFETIME = 900
EXPIRES_AT_MARGIN = 60
CLOCK_SKEW = 60
MAX_ASSERTION_LIFETIME = 3600
# About 31 years either way: far enough for any skew experiment, near enough that every
# emulated time stays a valid HTTP date (RFC 9110 §5.6.7) and a plausible NumericDate.
MAX_CLOCK_OFFSET = 1e9
KEEPALIVE_TIMEOUT = 30.0
HEADER_TIMEOUT = 5.0
BODY_TIMEOUT = 10.0


def check_clock_offset(offset: object) -> float:
    """
    Return *offset* as a float if it is a usable clock offset in seconds.

    Raises:
        ValueError: when it is not a finite number within ``MAX_CLOCK_OFFSET``.
    """
    if isinstance(offset, bool) or not isinstance(offset, (int, float)):
        raise ValueError("the clock offset must be a number of seconds")
    if not math.isfinite(offset) or abs(offset) > MAX_CLOCK_OFFSET:
        raise ValueError(f"the clock offset must be finite and within ±{MAX_CLOCK_OFFSET:.0f} s")
    return float(offset)


@dataclass(frozen=True)
class User:
    """
    A seeded account: the email and password that the Basic and password routes accept.

    ``id`` is a fresh UUID4 when left ``None``. An inactive user cannot log in (400
    ``LOGIN_BAD_CREDENTIALS``) and its clients cannot mint.
    """

    email: str
    password: str = field(repr=False)
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    id: str | None = None


DEFAULT_USER = User(DEFAULT_EMAIL, DEFAULT_PASSWORD)


@dataclass(frozen=True)
class Timeouts:
    """
    How long a connection may take, in seconds, at each stage of a request.
    """

    keepalive: float  # idle between requests (uvicorn: 5 s)
    header: float  # first byte of a request (or the connection) to the end of its headers
    body: float  # end of the headers to the end of the body
    write: float = 10.0  # one answer to leave


@dataclass(frozen=True)
class EmulatorConfig:
    """
    How one emulator instance behaves; every field has the documented default.

    ``port=0`` binds a free port. ``issuer`` defaults to ``http://HOST:PORT`` of the bound
    socket (a wildcard host is shown as loopback); the token URL, and so the only accepted
    assertion ``aud``, is ``issuer + "/api/v1/auth/jwt/token"`` (or the same path under the
    ``Host`` the client used).

    The token route is strict by default: only ``client_credentials`` with a
    ``client_secret_jwt`` assertion (RFC 7523 §2.2), the one method the official client uses,
    so that code using another method fails here as it would in production.
    ``lenient_client_auth=True`` also accepts ``client_secret_basic``, ``client_secret_post``
    (RFC 6749 §2.3.1) and ``grant_type=password`` (§4.3).

    ``clock_offset`` moves the emulated clock (seconds, negative = behind): every time the
    server shows or checks (``Date`` headers, token ``iat``/``exp``/``expires_at``/
    ``expires_in``, assertion ``exp``/``iat``/``nbf``) follows it. An assertion may live at
    most ``max_assertion_lifetime`` seconds (``None``: no limit); ``clock_skew`` is the
    leeway of every time check.

    A request line and headers get ``header_timeout`` seconds from their first byte (from
    the connection, for a new one), a body ``body_timeout`` after its headers; a request
    that takes longer is answered 408 and its connection closed.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    issuer: str | None = None
    api_audience: str = DEFAULT_API_AUDIENCE
    users: tuple[User, ...] = (DEFAULT_USER,)
    client_management: bool = True
    faults: tuple[Fault, ...] = ()
    seed: int | None = None
    access_token_lifetime: int = ACCESS_TOKEN_LIFETIME
    expires_at_margin: int = EXPIRES_AT_MARGIN
    clock_skew: int = CLOCK_SKEW
    strict_jti: bool = True
    lenient_client_auth: bool = False
    max_assertion_lifetime: int | None = MAX_ASSERTION_LIFETIME
    clock_offset: float = 0.0
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def __post_init__(self) -> None:
        check_clock_offset(self.clock_offset)
