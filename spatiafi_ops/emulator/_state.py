"""
The emulator's mutable world: users, clients, the assertion replay cache, counters and clock.
"""

from __future__ import annotations

import heapq
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._config import User


@dataclass(frozen=True)
class UserRecord:
    """
    A user as stored: the seeded ``User`` with its id fixed.
    """

    id: str
    email: str
    password: str = field(repr=False)
    is_active: bool
    is_superuser: bool
    is_verified: bool
    groups: tuple[str, ...]
    roles: tuple[str, ...]

    @classmethod
    def from_user(cls, user: User, user_id: str | None = None) -> UserRecord:
        """
        Return the record for *user*, keeping *user_id* (or the user's own, or a new UUID4).
        """
        return cls(
            id=user.id or user_id or str(uuid.uuid4()),
            email=user.email,
            password=user.password,
            is_active=user.is_active,
            is_superuser=user.is_superuser,
            is_verified=user.is_verified,
            groups=tuple(user.groups),
            roles=tuple(user.roles),
        )

    def public(self) -> dict[str, Any]:
        """
        Return fastapi-users' ``BaseUser`` shape (never the password).
        """
        return {
            "id": self.id,
            "email": self.email,
            "is_active": self.is_active,
            "is_superuser": self.is_superuser,
            "is_verified": self.is_verified,
        }


@dataclass(frozen=True)
class ClientRecord:
    """
    App credentials as stored. The plaintext secret is kept: verifying an HMAC assertion
    needs it (RFC 7523 §3 with HS256: the key is the client secret itself).
    """

    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    created_at: float

    @property
    def key(self) -> bytes:
        """
        Return the HMAC key of the client's assertions: the secret as UTF-8.
        """
        return self.client_secret.encode("utf-8")

    def public(self) -> dict[str, Any]:
        """
        Return the listing shape, which never includes the secret.
        """
        return {"client_id": self.client_id, "user_id": self.user_id, "created_at": self.created_at}


class State:
    """
    Everything that changes while the emulator runs, behind locks; one instance per emulator.
    """

    def __init__(self, users: Iterable[User], clock_offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._seed_users = [UserRecord.from_user(user) for user in users]
        self._users: dict[str, UserRecord] = {}
        self._clients: dict[str, ClientRecord] = {}
        self._seen_jti: dict[tuple[str, str], float] = {}
        self._jti_expiry: list[tuple[float, str, str]] = []
        self._counters: dict[str, int] = {}
        self._initial_offset = clock_offset
        self.clock_offset = clock_offset
        self._restore_users()

    def now(self) -> float:
        """
        Return the emulated time: the wall clock plus the configured offset.
        """
        return time.time() + self.clock_offset

    # users

    def _restore_users(self) -> None:
        self._users = {user.email.lower(): user for user in self._seed_users}

    def upsert_user(self, user: User) -> tuple[UserRecord, bool]:
        """
        Add *user*, or replace the one with its email (keeping its id); return it and
        whether it is new.
        """
        with self._lock:
            old = self._users.get(user.email.lower())
            record = UserRecord.from_user(user, old.id if old else None)
            self._users[user.email.lower()] = record
            return record, old is None

    def authenticate(self, email: str, password: str) -> UserRecord | None:
        """
        Return the active user with this email and password, else ``None``.
        """
        user = self._users.get(email.lower())
        if user is None or not user.is_active:
            return None
        if not hmac.compare_digest(user.password.encode("utf-8"), password.encode("utf-8")):
            return None
        return user

    def user_by_id(self, user_id: str) -> UserRecord | None:
        """
        Return the user with this id, if it exists.
        """
        for user in list(self._users.values()):
            if user.id == user_id:
                return user
        return None

    def user_by_email(self, email: str) -> UserRecord | None:
        """
        Return the user with this email, if it exists.
        """
        return self._users.get(email.lower())

    def users(self) -> list[UserRecord]:
        """
        Return every user.
        """
        with self._lock:
            return list(self._users.values())

    # clients

    def create_client(self, user_id: str) -> ClientRecord:
        """
        Create app credentials for *user_id*: a UUID4 id and a 43-character url-safe secret.
        """
        record = ClientRecord(
            client_id=str(uuid.uuid4()),
            client_secret=secrets.token_urlsafe(32),
            user_id=user_id,
            created_at=round(self.now(), 3),
        )
        with self._lock:
            self._clients[record.client_id] = record
        return record

    def client(self, client_id: str) -> ClientRecord | None:
        """
        Return the live client with this id, if any.
        """
        return self._clients.get(client_id)

    def clients(self, user_id: str | None = None) -> list[ClientRecord]:
        """
        Return the clients of *user_id* (every client when ``None``), oldest first.
        """
        with self._lock:
            found = [c for c in self._clients.values() if user_id in (None, c.user_id)]
        return sorted(found, key=lambda c: c.created_at)

    def delete_client(self, client_id: str, user_id: str | None = None) -> bool:
        """
        Delete a client (only if owned by *user_id*, when given); return whether it existed.
        """
        with self._lock:
            record = self._clients.get(client_id)
            if record is None or user_id not in (None, record.user_id):
                return False
            del self._clients[client_id]
            return True

    # replay cache

    def use_jti(self, client_id: str, jti: str, expires: float) -> bool:
        """
        Record an assertion's ``jti`` until *expires*; return ``False`` when it was already
        recorded and still live (a replay).
        """
        now = self.now()
        key = (client_id, jti)
        with self._lock:
            heap = self._jti_expiry
            while heap and heap[0][0] < now:
                _, old_client, old_jti = heapq.heappop(heap)
                old_key = (old_client, old_jti)
                if self._seen_jti.get(old_key, now) < now:
                    del self._seen_jti[old_key]
            previous = self._seen_jti.get(key)
            if previous is not None and previous >= now:
                return False
            self._seen_jti[key] = expires
            heapq.heappush(heap, (expires, client_id, jti))
            return True

    # counters

    def count(self, route: str) -> None:
        """
        Add one to the counter of *route*.
        """
        with self._lock:
            self._counters[route] = self._counters.get(route, 0) + 1

    def counters(self) -> dict[str, int]:
        """
        Return a copy of the request counters, keyed by route.
        """
        with self._lock:
            return dict(sorted(self._counters.items()))

    def reset(self, *, clients: bool = False, users: bool = False) -> None:
        """
        Clear counters and the replay cache, restore the clock offset; optionally every client, and
        the users back to the seeded ones (dropping clients of users that no longer exist).
        """
        with self._lock:
            self._counters.clear()
            self._seen_jti.clear()
            self._jti_expiry.clear()
            self.clock_offset = self._initial_offset
            if clients:
                self._clients.clear()
            if users:
                self._restore_users()
                ids = {user.id for user in self._users.values()}
                self._clients = {k: c for k, c in self._clients.items() if c.user_id in ids}
