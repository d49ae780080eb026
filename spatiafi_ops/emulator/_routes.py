"""
The emulated SpatiaFi Auth API routes, with upstream's status codes and JSON shapes.

Documented in docs/emulator.md. FastAPI's framework behaviour is copied
where a client could notice it: 307 for a missing or extra trailing slash, 404/405 bodies.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from . import _jwt, _paths
from ._client_auth import ClientAuthenticator, ClientAuthFailed, basic_credentials, numeric_date
from ._config import EmulatorConfig
from ._messages import Request, Response, detail, empty, json_response, oauth_error
from ._state import State, UserRecord

_CLIENT_ID_PATH = re.compile(r"/api/v1/clients/([^/]+)")
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
_UNAUTHORIZED = detail(401, "Unauthorized")
_NOT_FOUND = detail(404, "Not Found")


def _form(request: Request) -> dict[str, str] | Response:
    """
    Return the form fields of a form-urlencoded body ({} for another content type), or the
    400 response for a malformed or repetitive one.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        text = request.body.decode("utf-8")
        raw = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return oauth_error(400, "invalid_request", "the body is not form-urlencoded")
    repeated = sorted(name for name, values in raw.items() if len(values) > 1)
    if repeated:
        # RFC 6749 §3.2: parameters MUST NOT be included more than once.
        return oauth_error(400, "invalid_request", f"repeated parameter: {repeated[0]}")
    return {name: values[0] for name, values in raw.items()}


def _method_not_allowed(*allowed: str) -> Response:
    return detail(405, "Method Not Allowed", (("allow", ", ".join(allowed)),))


class Service:
    """
    The service routes of one emulator; stateless apart from ``state`` and its signing key.
    """

    def __init__(self, config: EmulatorConfig, state: State, issuer: str) -> None:
        self.config = config
        self.state = state
        self.issuer = issuer
        self.token_url = issuer + _paths.TOKEN_PATH
        # Access tokens are HS256 under a random per-instance key: only this process can
        # verify them, which is all the Bearer routes need.
        self._key = secrets.token_bytes(32)
        self._clients = ClientAuthenticator(config, state, self.token_url)
        self._handlers: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("POST", _paths.TOKEN_PATH): self.token,
            ("GET", _paths.BASIC_PATH): self.basic,
            ("GET", _paths.USERS_ME_PATH): self.users_me,
            ("POST", _paths.CLIENTS_PATH): self.create_client,
            ("GET", _paths.CLIENTS_PATH): self.list_clients,
        }

    # routing

    def route_key(self, method: str, path: str) -> str:
        """
        Return the counter and fault key of a request: ``METHOD /route/template``.
        """
        if _CLIENT_ID_PATH.fullmatch(path):
            return f"{method} {_paths.CLIENT_PATH_TEMPLATE}"
        return f"{method} {path[:200]}"

    def _allowed(self, path: str) -> tuple[str, ...] | None:
        """
        Return the methods served at *path*, or ``None`` when no route has that path.
        """
        management = self.config.client_management
        if path == _paths.TOKEN_PATH:
            return ("POST",)
        if path in (_paths.BASIC_PATH, _paths.USERS_ME_PATH):
            return ("GET",)
        if path == _paths.CLIENTS_PATH:
            return ("GET", "POST") if management else ("POST",)
        if management and _CLIENT_ID_PATH.fullmatch(path):
            return ("DELETE",)
        return None

    def handle(self, request: Request) -> Response:
        """
        Answer one service request.
        """
        path, method = request.path, request.method
        allowed = self._allowed(path)
        if allowed is None:
            # Starlette's redirect_slashes: the other spelling exists → 307 to it.
            other = path[:-1] if path.endswith("/") else path + "/"
            if other != "/" and self._allowed(other) is not None:
                authority = request.host or urlsplit(self.issuer).netloc
                location = f"http://{authority}{other}"
                if request.query:
                    location += "?" + request.query
                return empty(307, (("location", location),))
            return _NOT_FOUND
        if method not in allowed:
            return _method_not_allowed(*allowed)
        handler = self._handlers.get((method, path))
        if handler is not None:
            return handler(request)
        return self.delete_client(request, path.rsplit("/", 1)[1])

    # tokens

    def _issue(self, user: UserRecord) -> tuple[str, int, int]:
        """
        Return an access token for *user*, its ``expires_at`` and the issue time.
        """
        now = int(self.state.now())
        exp = now + self.config.access_token_lifetime
        claims = {
            "user_id": user.id,
            "groups": list(user.groups),
            "roles": list(user.roles),
            "aud": [self.issuer, self.config.api_audience],
            "iss": self.issuer,
            "exp": exp,
            "jti": str(uuid.uuid4()),
            "iat": now,
        }
        return _jwt.encode_hs256(claims, self._key), exp - self.config.expires_at_margin, now

    def _token_response(self, user: UserRecord) -> Response:
        token, expires_at, now = self._issue(user)
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_at": expires_at,
            "expires_in": expires_at - now,
        }
        return json_response(200, body, _NO_STORE)

    def bearer_user(self, request: Request) -> UserRecord | None:
        """
        Return the active user whose valid, unexpired access token the request carries.
        """
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            parsed = _jwt.parse(token.strip())
            _jwt.verify_hs256(parsed, self._key)
        except _jwt.JWTError:
            return None
        claims = parsed.claims
        aud = claims.get("aud")
        exp = numeric_date(claims.get("exp"))
        if claims.get("iss") != self.issuer or not isinstance(aud, list) or self.issuer not in aud:
            return None
        if exp is None or exp <= self.state.now():
            return None
        user_id = claims.get("user_id")
        user = self.state.user_by_id(user_id) if isinstance(user_id, str) else None
        return user if user is not None and user.is_active else None

    # E1

    def basic(self, request: Request) -> Response:
        """
        ``GET /api/v1/auth/jwt/token/basic``: a user token for HTTP Basic credentials.
        """
        credentials = basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return detail(401, "Not authenticated", (("www-authenticate", "Basic"),))
        user = self.state.authenticate(*credentials)
        if user is None:
            return detail(400, "LOGIN_BAD_CREDENTIALS")
        token, expires_at, _ = self._issue(user)
        return json_response(
            200, {"access_token": token, "token_type": "bearer", "expires_at": expires_at}
        )

    # E2

    def token(self, request: Request) -> Response:
        """
        ``POST /api/v1/auth/jwt/token``: the password and client_credentials grants.
        """
        form = _form(request)
        if isinstance(form, Response):
            return form
        grant_type = form.get("grant_type")
        if grant_type == "password" and self.config.lenient_client_auth:
            return self._password_grant(form)
        if grant_type != "client_credentials":
            shown = "no grant_type" if grant_type is None else f"grant_type {grant_type[:40]!r}"
            return oauth_error(
                400,
                "unsupported_grant_type",
                f"{shown} is not supported; use grant_type=client_credentials",
            )
        try:
            client = self._clients.authenticate(request, form)
        except ClientAuthFailed as failed:
            return failed.response
        owner = self.state.user_by_id(client.user_id)
        if owner is None or not owner.is_active:
            return oauth_error(401, "invalid_client", "the client's owner is not active")
        return self._token_response(owner)

    def _password_grant(self, form: dict[str, str]) -> Response:
        missing = [name for name in ("username", "password") if name not in form]
        if missing:
            # FastAPI's validation error for a missing OAuth2PasswordRequestForm field.
            errors = [
                {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}
                for name in missing
            ]
            return json_response(422, {"detail": errors})
        user = self.state.authenticate(form["username"], form["password"])
        if user is None:
            return detail(400, "LOGIN_BAD_CREDENTIALS")
        return self._token_response(user)

    # E3 and the optional client management

    def create_client(self, request: Request) -> Response:
        """
        ``POST /api/v1/clients/``: new app credentials for the bearer's user; body ignored.
        """
        user = self.bearer_user(request)
        if user is None:
            return _UNAUTHORIZED
        record = self.state.create_client(user.id)
        body = {
            "user_id": record.user_id,
            "client_id": record.client_id,
            "client_secret": record.client_secret,
        }
        return json_response(201, body, _NO_STORE)

    def list_clients(self, request: Request) -> Response:
        """
        ``GET /api/v1/clients/`` (optional capability): the bearer's clients, never secrets.
        """
        user = self.bearer_user(request)
        if user is None:
            return _UNAUTHORIZED
        return json_response(200, [client.public() for client in self.state.clients(user.id)])

    def delete_client(self, request: Request, client_id: str) -> Response:
        """
        ``DELETE /api/v1/clients/{client_id}`` (optional capability): revoke one client.
        """
        user = self.bearer_user(request)
        if user is None:
            return _UNAUTHORIZED
        if not self.state.delete_client(unquote(client_id), user.id):
            return _NOT_FOUND
        return empty(204)

    # E4

    def users_me(self, request: Request) -> Response:
        """
        ``GET /api/v1/users/me`` (inferred): the bearer's user.
        """
        user = self.bearer_user(request)
        if user is None:
            return _UNAUTHORIZED
        return json_response(200, user.public())
