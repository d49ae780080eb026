"""
The emulator's settings as value objects, with the documented defaults (auth API reference §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._faults import Fault

DEFAULT_EMAIL = "null@example.com"
DEFAULT_PASSWORD = "example_password123"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_API_AUDIENCE = "https://api.spatiafi.com"
ACCESS_TOKEN_LIFETIME = 900
EXPIRES_AT_MARGIN = 60
CLOCK_SKEW = 60
KEEPALIVE_TIMEOUT = 30.0


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
class EmulatorConfig:
    """
    How one emulator instance behaves; every field has the documented default.

    ``port=0`` binds a free port. ``issuer`` defaults to ``http://HOST:PORT`` of the bound
    socket (a wildcard host is shown as loopback); the token URL, and so the only accepted
    assertion ``aud``, is ``issuer + "/api/v1/auth/jwt/token"`` (or the same path under the
    ``Host`` the client used). ``client_secret_auth`` also accepts ``client_secret_basic`` and
    ``client_secret_post`` on the token route, as the reference's emulator contract says;
    turn it off to accept only ``client_secret_jwt`` assertions.
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
    client_secret_auth: bool = True
    clock_offset: float = 0.0
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
