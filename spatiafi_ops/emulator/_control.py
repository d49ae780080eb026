"""
The ``/_emulator/`` control API: faults, counters, clients, users, clock and reset.

None of this exists on the real service; every response carries
``X-Emulator: not-part-of-the-real-service`` to make that plain.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from . import _paths
from ._config import DEFAULT_EMAIL, User, check_clock_offset
from ._faults import Fault, FaultInjector
from ._guard import Guard
from ._messages import Request, Response, detail, empty, json_response
from ._routes import Service
from ._state import UserRecord

MARKER = ("x-emulator", "not-part-of-the-real-service")
NOTE = "Emulator control API: not part of the real SpatiaFi Auth API."


class ControlError(ValueError):
    """
    A control request with a bad body; becomes a 400 ``{"detail": ...}``.
    """


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise ControlError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    return data


def _flag(data: dict[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


def _is_text(value: object) -> bool:
    """
    Tell whether *value* is a string that UTF-8 can carry (JSON may hold lone surrogates).
    """
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _user_from(data: dict[str, Any]) -> User:
    email, password = data.get("email"), data.get("password")
    if not (
        isinstance(email, str)
        and isinstance(password, str)
        and email
        and _is_text(email)
        and _is_text(password)
    ):
        raise ControlError("a user needs a non-empty string email and a string password")
    groups, roles = data.get("groups", []), data.get("roles", [])
    for name, value in (("groups", groups), ("roles", roles)):
        if not isinstance(value, list) or not all(_is_text(v) for v in value):
            raise ControlError(f"{name} must be a list of strings")
    user_id = data.get("id")
    if user_id is not None and not _is_text(user_id):
        raise ControlError("id must be a string")
    return User(
        email=email,
        password=password,
        is_active=_flag(data, "is_active", True),
        is_superuser=_flag(data, "is_superuser"),
        is_verified=_flag(data, "is_verified"),
        groups=tuple(groups),
        roles=tuple(roles),
        id=user_id,
    )


def _user_json(record: UserRecord) -> dict[str, Any]:
    return {**record.public(), "groups": list(record.groups), "roles": list(record.roles)}


class Control:
    """
    Answers ``/_emulator/...`` requests for one emulator.
    """

    def __init__(self, service: Service, faults: FaultInjector, guard: Guard) -> None:
        self.service = service
        self.guard = guard
        self.state = service.state
        self.faults = faults
        self._handlers: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", ""): lambda _: self.info(),
            ("GET", "/counters"): lambda _: json_response(200, self.state.counters()),
            ("GET", "/faults"): lambda _: json_response(200, self.faults.snapshot()),
            ("PUT", "/faults"): lambda r: self.put_faults(_body(r)),
            ("DELETE", "/faults"): lambda _: self.put_faults({"faults": []}),
            ("GET", "/clients"): lambda _: json_response(
                200, [client.public() for client in self.state.clients()]
            ),
            ("POST", "/clients"): lambda r: self.create_client(_body(r)),
            ("GET", "/users"): lambda _: json_response(
                200, [_user_json(user) for user in self.state.users()]
            ),
            ("POST", "/users"): lambda r: self.upsert_user(_body(r)),
            ("GET", "/clock"): lambda _: self.clock(),
            ("PUT", "/clock"): lambda r: self.set_clock(_body(r)),
            ("POST", "/reset"): lambda r: self.reset(_body(r)),
        }

    def handle(self, request: Request, arrived_at: Any) -> Response:
        """
        Answer one control request, marked as not part of the real service.

        *arrived_at* is the connection's local address, for the guard (``_guard``).
        """
        response = self.guard.refusal(request, arrived_at)
        try:
            response = response or self._route(request)
        except ControlError as exc:
            response = detail(400, str(exc))
        return dataclasses.replace(response, headers=(*response.headers, MARKER))

    def _route(self, request: Request) -> Response:
        path = request.path[len(_paths.CONTROL_PREFIX) :].rstrip("/")
        handler = self._handlers.get((request.method, path))
        if handler is not None:
            return handler(request)
        deleted = (
            request.method == "DELETE"
            and path.startswith("/clients/")
            and self.state.delete_client(path.removeprefix("/clients/"))
        )
        return empty(204) if deleted else detail(404, "Not Found")

    def info(self) -> Response:
        """
        Describe this emulator and its control routes.
        """
        config = self.service.config
        return json_response(
            200,
            {
                "emulator": "spatiafi-ops",
                "note": NOTE,
                "issuer": self.service.issuer,
                "token_url": self.service.token_url,
                "client_management": config.client_management,
                "lenient_client_auth": config.lenient_client_auth,
                "control_routes": [
                    "GET /_emulator/counters",
                    "GET|PUT|DELETE /_emulator/faults",
                    "GET|POST /_emulator/clients",
                    "DELETE /_emulator/clients/{client_id}",
                    "GET|POST /_emulator/users",
                    "GET|PUT /_emulator/clock",
                    "POST /_emulator/reset",
                ],
            },
        )

    def put_faults(self, data: dict[str, Any]) -> Response:
        """
        Replace every fault rule (and the seed) from ``{"faults": [...], "seed": N}``.
        """
        raw_faults = data.get("faults", [])
        seed = data.get("seed", self.service.config.seed)
        if not isinstance(raw_faults, list) or not all(isinstance(f, dict) for f in raw_faults):
            raise ControlError("faults must be a list of objects")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ControlError("seed must be an integer or null")
        try:
            faults = [Fault.from_dict(raw) for raw in raw_faults]
        except (TypeError, ValueError) as exc:
            raise ControlError(str(exc)) from None
        self.faults.configure(faults, seed)
        return json_response(200, self.faults.snapshot())

    def create_client(self, data: dict[str, Any]) -> Response:
        """
        Create app credentials directly for a user given by ``email`` or ``user_id``.
        """
        user_id, email = data.get("user_id"), data.get("email")
        if isinstance(user_id, str):
            user = self.state.user_by_id(user_id)
        elif user_id is None and (email is None or isinstance(email, str)):
            user = self.state.user_by_email(email or DEFAULT_EMAIL)
        else:
            raise ControlError("user_id and email must be strings")
        if user is None:
            return detail(404, "no such user")
        record = self.state.create_client(user.id)
        body = {
            "user_id": record.user_id,
            "client_id": record.client_id,
            "client_secret": record.client_secret,
            "created_at": record.created_at,
        }
        return json_response(201, body)

    def upsert_user(self, data: dict[str, Any]) -> Response:
        """
        Add a user, or replace the one with the same email (keeping its id).
        """
        record, created = self.state.upsert_user(_user_from(data))
        return json_response(201 if created else 200, _user_json(record))

    def clock(self) -> Response:
        """
        Return ``{"offset", "now"}`` of the emulated clock.
        """
        return json_response(200, {"offset": self.state.clock_offset, "now": self.state.now()})

    def set_clock(self, data: dict[str, Any]) -> Response:
        """
        Set the clock offset in seconds from ``{"offset": N}``.
        """
        try:
            self.state.clock_offset = check_clock_offset(data.get("offset"))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return self.clock()

    def reset(self, data: dict[str, Any]) -> Response:
        """
        Clear counters, faults, the replay cache and the clock offset; with
        ``{"clients": true}`` every client, with ``{"users": true}`` the users back to the
        seeded ones.
        """
        clients, users = _flag(data, "clients"), _flag(data, "users")
        self.faults.configure([], self.service.config.seed)
        self.state.reset(clients=clients, users=users)
        return json_response(200, {"reset": True, "clients": clients, "users": users})
