"""
``EmulatorHandle``: the URLs of a running emulator and a small client of its control API.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._models import AppCredentials
from . import _paths
from ._faults import Fault


class EmulatorControlError(RuntimeError):
    """
    The emulator's control API refused a request (``status`` set) or could not be reached.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EmulatorHandle:
    """
    A running emulator, by URL; ``str(handle)`` is its base URL.

    Works for an emulator in this process (``running()``, the pytest fixtures) and for one
    started elsewhere (``spatiafi-ops emulator serve``): it only talks HTTP. Each helper
    calls ``/_emulator/...`` over a fresh connection that ignores proxy settings.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// emulator URL")
        self._host = parts.hostname
        self._port = parts.port or 80
        self.timeout = timeout

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"EmulatorHandle({self.url!r})"

    @property
    def token_url(self) -> str:
        """
        The token route, and the exact ``aud`` an assertion must carry.
        """
        return self.url + _paths.TOKEN_PATH

    @property
    def basic_url(self) -> str:
        """
        The Basic-auth user token route.
        """
        return self.url + _paths.BASIC_PATH

    @property
    def clients_url(self) -> str:
        """
        The create-client route, with its trailing slash.
        """
        return self.url + _paths.CLIENTS_PATH

    @property
    def control_url(self) -> str:
        """
        The root of the control API (not part of the real service).
        """
        return self.url + _paths.CONTROL_PREFIX

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        headers = {"accept": "application/json"}
        payload = None
        if method != "GET":  # the control API takes every change as JSON (docs/emulator.md)
            headers["content-type"] = "application/json"
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
        try:
            conn.request(method, _paths.CONTROL_PREFIX + path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:
            raise EmulatorControlError(
                f"the emulator at {self.url} did not answer {method} {path}: {exc}"
            ) from exc
        finally:
            conn.close()
        if response.status >= 400:
            raise EmulatorControlError(
                f"the emulator at {self.url} refused {method} {path} with "
                f"{response.status}: {data[:200].decode('utf-8', 'replace')}",
                status=response.status,
            )
        return json.loads(data) if data else None

    def info(self) -> dict[str, Any]:
        """
        Return the emulator's self-description (issuer, token URL, control routes).
        """
        result: dict[str, Any] = self._call("GET", "")
        return result

    def counters(self) -> dict[str, int]:
        """
        Return the request counters, keyed like ``"POST /api/v1/auth/jwt/token"``.
        """
        result: dict[str, int] = self._call("GET", "/counters")
        return result

    def count(self, route: str) -> int:
        """
        Return how many requests reached *route* (a key or an alias such as ``token``).
        """
        return self.counters().get(_paths.canonical_route(route), 0)

    def faults(self) -> dict[str, Any]:
        """
        Return ``{"seed", "faults"}``; each fault has a ``remaining`` count (or ``None``).
        """
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def set_faults(self, *faults: Fault | Mapping[str, Any], seed: int | None = None) -> None:
        """
        Replace every fault rule; ``seed`` defaults to the emulator's configured seed.
        """
        items = [
            f.to_dict() if isinstance(f, Fault) else Fault.from_dict(f).to_dict() for f in faults
        ]
        body: dict[str, Any] = {"faults": items}
        if seed is not None:
            body["seed"] = seed
        self._call("PUT", "/faults", body)

    def clear_faults(self) -> None:
        """
        Remove every fault rule.
        """
        self._call("DELETE", "/faults")

    def reset(self, *, clients: bool = False, users: bool = False) -> None:
        """
        Clear counters, faults, the replay cache and the clock offset; optionally delete
        every client and restore the seeded users.
        """
        self._call("POST", "/reset", {"clients": clients, "users": users})

    def clients(self) -> list[dict[str, Any]]:
        """
        Return every client as ``{"client_id", "user_id", "created_at"}`` (no secrets).
        """
        result: list[dict[str, Any]] = self._call("GET", "/clients")
        return result

    def create_client(
        self, email: str | None = None, *, user_id: str | None = None
    ) -> AppCredentials:
        """
        Create app credentials for a user (default: the seeded default user).

        Returns the package's ``AppCredentials`` with ``user_id`` and ``auth_url`` set to
        this emulator, as ``spatiafi_ops.mint_token(creds, settings)`` takes them.
        """
        body = {"email": email} if user_id is None else {"user_id": user_id}
        result = self._call("POST", "/clients", body)
        return AppCredentials(
            client_id=result["client_id"],
            client_secret=result["client_secret"],
            user_id=result["user_id"],
            auth_url=self.url,
        )

    def delete_client(self, client_id: str) -> bool:
        """
        Delete (revoke) a client of any user; return whether it existed.
        """
        try:
            self._call("DELETE", f"/clients/{client_id}")
        except EmulatorControlError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def users(self) -> list[dict[str, Any]]:
        """
        Return every user (never a password).
        """
        result: list[dict[str, Any]] = self._call("GET", "/users")
        return result

    def create_user(
        self,
        email: str,
        password: str,
        *,
        is_active: bool = True,
        is_superuser: bool = False,
        is_verified: bool = False,
        groups: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """
        Add a user, or replace the one with this email (keeping its id); return it.
        """
        body = {
            "email": email,
            "password": password,
            "is_active": is_active,
            "is_superuser": is_superuser,
            "is_verified": is_verified,
            "groups": list(groups),
            "roles": list(roles),
        }
        result: dict[str, Any] = self._call("POST", "/users", body)
        return result

    def clock_offset(self) -> float:
        """
        Return the emulated clock's offset from the wall clock, in seconds.
        """
        return float(self._call("GET", "/clock")["offset"])

    def set_clock_offset(self, seconds: float) -> None:
        """
        Move the emulated clock *seconds* ahead of the wall clock (negative: behind).
        """
        self._call("PUT", "/clock", {"offset": seconds})
