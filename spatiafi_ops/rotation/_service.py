"""
The remote side of a run: the Service protocol and its HTTP implementation.

Also the mint check of stored credentials, and the rule that picks out a lost create's
client from the service's listing (orphans).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Protocol

from .. import _log
from .._api import ClientInfo, create_client, delete_client, list_clients
from .._errors import CredentialsRejected
from .._http import Deadline, HttpClient, RetryPolicy
from .._models import AccessToken, AppCredentials, parse_timestamp
from ._context import RunContext

log = _log.get_logger(__name__)

# Verification retries a rejection of a brand-new client while it propagates (AWS Secrets
# Manager's testSecret step); separate from the transient-failure policy, which mint_token
# applies inside.
VERIFY_ATTEMPTS = 6
VERIFY_WINDOW = 20.0
VERIFY_FIRST_WAIT = 0.25
# A listed client counts as a lost create of ours only if the service dates it within the
# attempts' window, widened by this much for clock skew between us and the service.
ORPHAN_CLOCK_SLACK = 300.0


def mints(
    credentials: AppCredentials, ctx: RunContext, policy: RetryPolicy, deadline: Deadline
) -> bool:
    """
    Return whether *credentials* mint a token; only a rejection means False.

    Transient failures raise (never taken for a rejection), and so does a clock problem
    (``ClockSkew``): new credentials would be rejected the same way.
    """
    from ..tokens._mint import mint_token  # authlib: only when a mint is checked

    try:
        mint_token(credentials, ctx.settings, policy=policy, deadline=deadline, clock=ctx.clock)
    except CredentialsRejected:
        return False
    return True


class Service(Protocol):
    """
    The remote calls a change makes; ``HttpService`` implements them over HTTP.
    """

    def login(self) -> None:
        """
        Make sure the user routes can be used (a user token is at hand).
        """

    def create(self) -> AppCredentials:
        """
        Create a client (never retried once the request may have been processed).
        """

    def listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        """
        List the user's clients (``None`` if unsupported) and the ids this run created.
        """

    def delete(self, client_id: str) -> bool | None:
        """
        Revoke a client: True, False when already gone, ``None`` when unsupported.
        """

    def verify(self, credentials: AppCredentials) -> AccessToken:
        """
        Mint a token with *credentials*, retrying a rejection while it may propagate.
        """


class HttpService:
    """
    A change's remote calls for one profile run: its own connection pool and deadline.
    """

    def __init__(self, ctx: RunContext, policy: RetryPolicy, deadline: Deadline) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.policy = policy
        self.deadline = deadline
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient.for_settings(
                self.settings,
                self.deadline,
                session=self.ctx.session,
                policy=self.policy,
                clock=self.ctx.clock,
            )
        return self._http

    def _user_token(self) -> AccessToken:
        return self.ctx.tokens.get(self.http, self.settings.url)

    def login(self) -> None:
        self._user_token()

    def create(self) -> AppCredentials:
        token = self._user_token()
        created: AppCredentials | None = None
        self.ctx.gate.enter_create()
        try:
            created = create_client(self.http, self.settings.url, token)
        finally:
            self.ctx.gate.leave_create(created.client_id if created is not None else None)
        return created

    def listing(self) -> tuple[list[ClientInfo] | None, frozenset[str]]:
        token = self._user_token()
        created_here = self.ctx.gate.enter_listing(self.deadline.remaining())
        try:
            return list_clients(self.http, self.settings.url, token), created_here
        finally:
            self.ctx.gate.leave_listing()

    def delete(self, client_id: str) -> bool | None:
        token = self._user_token()
        existed = delete_client(self.http, self.settings.url, token, client_id)
        if existed is None:
            # A 404 "Not Found" is both FastAPI's "no such route" and "no such client":
            # a service that lists its clients without this one has deleted it already.
            listed = list_clients(self.http, self.settings.url, token)
            if listed is not None and client_id not in {c.client_id for c in listed}:
                return False
        return existed

    def verify(self, credentials: AppCredentials) -> AccessToken:
        import tenacity

        from ..tokens._mint import mint_token  # authlib: only when a new client is verified

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
        token: AccessToken = retrying(
            mint_token,
            credentials,
            self.settings,
            deadline=self.deadline,
            policy=self.policy,
            clock=self.ctx.clock,
        )
        return token

    def close(self) -> None:
        if self._http is not None and self.ctx.session is None:
            self._http.close()

    def __enter__(self) -> HttpService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def listed_epoch(value: object) -> float | None:
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
        except (ValueError, OverflowError):
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
        when_created = listed_epoch(client.created_at)
        in_window = when_created is None or low <= when_created <= high
        if client.client_id not in known and in_window:
            candidates.append(client.client_id)
    return candidates
