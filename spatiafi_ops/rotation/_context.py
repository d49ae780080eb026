"""
The explicit inputs of a run: what it may do (``Policy``) and what it shares (``RunContext``,
with the user token its profiles share, ``UserTokens``).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .._api import user_token
from .._clock import ServiceClock
from .._config import Settings
from .._durations import MAX_DURATION, format_duration
from .._errors import CredentialsRejected, SpatiafiOpsError, UsageError
from .._http import DEFAULT_RETRY_POLICY, Deadline, HttpClient, RetryPolicy
from .._models import AccessToken, UserLogin
from ..sinks._publish import Sink

DEFAULT_MAX_AGE = 30 * 86400.0
DEFAULT_GRACE = 3600.0
USER_TOKEN_MARGIN = 60.0
USER_TOKEN_LIFETIME = 600.0

# Where a person's login comes from: the login itself, or a callable asked once, when a run
# first needs the service's user routes. The callable may raise only the package's
# exceptions (LoginRequired when there is no way to ask), so a missing password is a usage
# error wherever it is found, fleet runs included.
LoginSource = UserLogin | Callable[[], UserLogin]


@dataclass(frozen=True)
class Policy:
    """
    What a run may do, for every verb (each reads the fields that concern it).

    - ``max_age``: ``rotate`` replaces credentials at least this old.
    - ``grace``: how long a replaced client stays valid before a run revokes it.
    - ``revoke_old``: revoke replaced clients (after ``grace``); otherwise keep them and
      list them in ``manual_revoke_client_ids``.
    - ``force``: ``create`` replaces stored credentials.
    - ``dry_run``: say what would be done; no request that changes anything, no write.
    - ``wait``: seconds to wait for another run's profile lock; ``None`` is the verb's
      default (``rotate``: 0, another run is doing the work; the others: the deadline).
    - ``retry``: the backoff between attempts of transient failures.
    - ``publish``: sinks that get every new client (``spatiafi_ops.sinks._publish``); the
      previous client is revoked only once every sink owed it has the current one.
    - ``forget_sinks``: sink specs no longer owed the current client (``--forget-sink``).
    - ``exclusive_account``: declare that no other machine creates clients on the
      profile's account (``create``, ``ensure``), so a lost create's client may be
      revoked.
    """

    max_age: float = DEFAULT_MAX_AGE
    grace: float = DEFAULT_GRACE
    revoke_old: bool = True
    force: bool = False
    dry_run: bool = False
    wait: float | None = None
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    publish: tuple[Sink, ...] = ()
    forget_sinks: tuple[str, ...] = ()
    exclusive_account: bool = False

    def __post_init__(self) -> None:
        for name in ("max_age", "grace", "wait"):
            value = getattr(self, name)
            if value is not None and not (0 <= value <= MAX_DURATION and math.isfinite(value)):
                raise UsageError(
                    f"{name} must be between 0 and {format_duration(MAX_DURATION)}, not {value!r}"
                )


class CreateGate:
    """
    The client ids this run created, and a gate that keeps a reconciliation from listing
    clients while one of the run's creates is in flight (fleet runs create in threads).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._listers = 0
        self._ids: set[str] = set()

    def enter_create(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._listers == 0)
            self._in_flight += 1

    def leave_create(self, created: str | None) -> None:
        with self._cond:
            if created is not None:
                self._ids.add(created)
            self._in_flight -= 1
            self._cond.notify_all()

    def enter_listing(self, timeout: float) -> frozenset[str]:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout)
            self._listers += 1
            return frozenset(self._ids)

    def leave_listing(self) -> None:
        with self._cond:
            self._listers -= 1
            self._cond.notify_all()


class RunContext:
    """
    What one run shares between the profiles it touches, made once by the caller.

    Holds the settings, the service's clock, the login source with the user token it yields
    (one login for a whole fleet), the create gate, and an optional ``requests.Session``
    for keep-alive connections.
    ``for_profile()`` gives a view on another profile that shares all of it.
    """

    def __init__(
        self,
        settings: Settings,
        login: LoginSource,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        # The service's clock as its answers tell it: measured once, used by every request
        # and assertion of the run (a skewed local clock never fails a mint).
        self.clock = ServiceClock()
        self.tokens = UserTokens(login)
        self.gate = CreateGate()
        self.session = session

    def for_profile(self, profile: str) -> RunContext:
        """
        Return this context for *profile*, sharing the login and the gate.
        """
        other = copy.copy(self)
        other.settings = self.settings._replace(profile=profile)
        return other

    def with_settings(self, settings: Settings) -> RunContext:
        """
        Return this context with other *settings* (the profile's auth URL, resolved).
        """
        other = copy.copy(self)
        other.settings = settings
        return other

    def with_session(self, session: requests.Session | None) -> RunContext:
        """
        Return this context with its requests going through *session* (one per thread).
        """
        other = copy.copy(self)
        other.session = session
        return other

    def new_deadline(self) -> Deadline:
        """
        Return the time budget of one profile's run (``settings.deadline`` from now).
        """
        return Deadline(self.settings.deadline)


class UserTokens:
    """
    A person's user token per auth URL, fetched on first need and shared by the profiles
    of one run.

    Renewed when it nears its end (it lives 15 minutes). A rejected password, or a login
    source that cannot give a login, is remembered: a fleet run asks once, not per profile.
    """

    def __init__(self, login: LoginSource) -> None:
        self._login = login
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}
        self._failure: SpatiafiOpsError | None = None

    def get(self, http: HttpClient, auth_url: str) -> AccessToken:
        """
        Return a user token for *auth_url* with at least a minute left, logging in if needed.

        Raises:
            CredentialsRejected: for a bad password (and every later call, without asking).
            LoginRequired: when the login source has no login to give.
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            token = self._tokens.get(auth_url)
            if token is None or token.ttl() < USER_TOKEN_MARGIN:
                try:
                    if not isinstance(self._login, UserLogin):
                        self._login = self._login()  # may prompt, or find no way to ask
                    user = self._login
                    token = user_token(http, auth_url, user.username, user.password)
                except CredentialsRejected as exc:
                    self._failure = exc
                    raise
                except SpatiafiOpsError as exc:
                    if not isinstance(self._login, UserLogin):
                        self._failure = exc  # no login to be had: ask once, not per profile
                    raise
                if token.ttl() < USER_TOKEN_MARGIN:
                    # A service clock behind ours: trust the token for its documented life.
                    token = token._replace(expires_at=time.time() + USER_TOKEN_LIFETIME)
                self._tokens[auth_url] = token
            return token
