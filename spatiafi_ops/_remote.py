"""
The remote side of a run: the Service protocol, its HTTP implementation, the shared user token.

Also the mint check of stored credentials, and the rules that pick out a lost create's
client from the service's listing (orphans).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from typing import Protocol

import requests

from . import _log
from ._api import ClientInfo, create_client, delete_client, list_clients, user_token
from ._config import Settings
from ._errors import CredentialsRejected
from ._http import Deadline, HttpClient, RetryPolicy
from ._models import AccessToken, AppCredentials, UserLogin, parse_timestamp

log = _log.get_logger(__name__)

# The password is asked for only when a run needs the service's user routes.
UserSource = UserLogin | Callable[[], UserLogin]

# Verification retries a rejection of a brand-new client while it propagates (reference
# §1.6); separate from the transient-failure policy, which mint_token applies inside.
VERIFY_ATTEMPTS = 6
VERIFY_WINDOW = 20.0
VERIFY_FIRST_WAIT = 0.25
USER_TOKEN_MARGIN = 60.0
# A listed client counts as a lost create of ours only if the service dates it within the
# attempts' window, widened by this much for clock skew between us and the service.
ORPHAN_CLOCK_SLACK = 300.0


def mints(
    credentials: AppCredentials,
    settings: Settings,
    policy: RetryPolicy,
    deadline: Deadline | None = None,
) -> bool:
    """
    Return whether *credentials* mint a token; transient failures raise, never mean False.
    """
    from ._auth import mint_token

    try:
        mint_token(credentials, settings, policy=policy, deadline=deadline)
    except CredentialsRejected:
        return False
    return True


class Service(Protocol):
    """
    The remote calls a rotation makes; ``HttpService`` implements them over HTTP.
    """

    def login(self) -> None:
        """
        Make sure the user routes can be used (a user token is at hand).
        """

    def create(self) -> AppCredentials:
        """
        Create a client (never retried once the request may have been processed).
        """

    def reconcile_listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        """
        List the user's clients (``None`` if unsupported) and the ids this process created.
        """

    def delete(self, client_id: str) -> bool | None:
        """
        Revoke a client: True, False when already gone, ``None`` when unsupported.
        """

    def verify(self, credentials: AppCredentials) -> None:
        """
        Mint a token with *credentials*, retrying a rejection while it may propagate.
        """


class UserTokens:
    """
    A person's user token, fetched on first need and shared by the profiles of one run.

    Renewed when it nears its end (it lives 15 minutes); a rejected password is
    remembered, so that a fleet run does not retry it once per profile.
    """

    def __init__(self, user: UserSource) -> None:
        self._user = user
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._expires = 0.0
        self._failure: Exception | None = None

    def get(self, http: HttpClient, auth_url: str) -> AccessToken:
        """
        Return a user token with at least a minute left, logging in if needed.

        Raises:
            CredentialsRejected: for a bad password (and every later call, without asking).
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._token is None or time.time() > self._expires - USER_TOKEN_MARGIN:
                try:
                    if not isinstance(self._user, UserLogin):
                        self._user = self._user()  # may prompt, or fail for want of input
                    user = self._user
                    token = user_token(http, auth_url, user.username, user.password)
                except CredentialsRejected as exc:
                    self._failure = exc
                    raise
                except Exception as exc:
                    if not isinstance(self._user, UserLogin):
                        self._failure = exc  # no login to use: ask once, not per profile
                    raise
                now = time.time()
                self._expires = token.expires_at if token.expires_at > now else now + 600
                self._token = token
            return self._token


class _CreateGate:
    """
    The client ids this process created, and a gate that keeps a reconciliation from
    listing clients while one of our creates is in flight (fleet runs create in threads).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._listers = 0
        self._ids: set[str] = set()

    @contextmanager
    def creating(self) -> Iterator[Callable[[str], None]]:
        with self._cond:
            self._cond.wait_for(lambda: self._listers == 0)
            self._in_flight += 1
        try:
            yield self._record
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _record(self, client_id: str) -> None:
        with self._cond:
            self._ids.add(client_id)

    @contextmanager
    def listing(self, timeout: float) -> Iterator[Callable[[], frozenset[str]]]:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout)
            self._listers += 1
        try:
            yield lambda: frozenset(self._ids)
        finally:
            with self._cond:
                self._listers -= 1
                self._cond.notify_all()


_CREATES = _CreateGate()


class HttpService:
    """
    A rotation's remote calls for one profile run: its own connection pool and deadline.
    """

    def __init__(
        self,
        settings: Settings,
        tokens: UserTokens,
        policy: RetryPolicy,
        session: requests.Session | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.policy = policy
        self.deadline = deadline if deadline is not None else Deadline(settings.deadline)
        self._session = session  # shared keep-alive connections (fleet), closed by the owner
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(
                timeout=self.settings.timeout,
                deadline=self.deadline,
                policy=self.policy,
                session=self._session,
                allow_insecure_transport=self.settings.allow_insecure_transport,
            )
        return self._http

    def _user_token(self) -> AccessToken:
        return self.tokens.get(self.http, self.settings.auth_url)

    def login(self) -> None:
        self._user_token()

    def create(self) -> AppCredentials:
        token = self._user_token()
        with _CREATES.creating() as record:
            created = create_client(self.http, self.settings.auth_url, token)
            record(created.client_id)
        return created

    def reconcile_listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        token = self._user_token()
        with _CREATES.listing(self.deadline.remaining()) as created_here:
            listed = list_clients(self.http, self.settings.auth_url, token)
            return listed, created_here()

    def delete(self, client_id: str) -> bool | None:
        token = self._user_token()
        existed = delete_client(self.http, self.settings.auth_url, token, client_id)
        if existed is None:
            # A 404 "Not Found" is both FastAPI's "no such route" and "no such client":
            # a service that lists its clients without this one has deleted it already.
            listed = list_clients(self.http, self.settings.auth_url, token)
            if listed is not None and client_id not in {c.client_id for c in listed}:
                return False
        return existed

    def verify(self, credentials: AppCredentials) -> None:
        import tenacity

        from ._auth import mint_token

        # Retries CredentialsRejected only; mint_token retries transient failures itself.
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(CredentialsRejected),
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(VERIFY_ATTEMPTS),
                tenacity.stop_before_delay(min(VERIFY_WINDOW, self.deadline.remaining())),
            ),
            wait=tenacity.wait_exponential(multiplier=VERIFY_FIRST_WAIT, max=4.0),
            before_sleep=lambda state: log.info(
                "verification_retrying",
                client_id=credentials.client_id,
                attempt=state.attempt_number,
            ),
            reraise=True,
        )
        retrying(mint_token, credentials, self.settings, deadline=self.deadline, policy=self.policy)

    def close(self) -> None:
        if self._http is not None and self._session is None:
            self._http.close()

    def __enter__(self) -> HttpService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _epoch(value: object) -> float | None:
    """
    Return a listed ``created_at`` (epoch number or ISO text) as epoch seconds, if it is one.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return parse_timestamp(value)
        except ValueError:
            return None
    return None


def orphan_candidates(
    listed: list[ClientInfo], known: Container[str], attempts: list[float], timeout: float
) -> list[str]:
    """
    Return the listed clients that create requests sent at *attempts* may have made.

    A candidate is unknown to every profile and dated within the attempts' window (or
    undated: the listing route need not give a date).
    """
    low = min(attempts) - ORPHAN_CLOCK_SLACK
    high = max(attempts) + timeout + ORPHAN_CLOCK_SLACK
    candidates = []
    for client in listed:
        when_created = _epoch(client.created_at)
        in_window = when_created is None or low <= when_created <= high
        if client.client_id not in known and in_window:
            candidates.append(client.client_id)
    return candidates
