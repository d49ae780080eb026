"""
Diagnostics: configuration, permissions, proxies, reachability, clock skew, minting.

Each check returns a verdict; none raises. The CLI prints them and picks the exit code.
"""

from __future__ import annotations

import email.utils
import os
import stat
import time
from typing import Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from ._api import BASIC_TOKEN_PATH
from ._config import Settings
from ._errors import CredentialsRejected, LocalStateError, ServiceError, SpatiafiOpsError
from ._store import Store, credentials_from_env

Verdict = Literal["ok", "warn", "fail"]
# Assertions carry iat/exp; servers allow about a minute of skew (reference §2.2).
MAX_CLOCK_SKEW = 30.0
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE")


class Check(NamedTuple):
    """
    One diagnostic: what was checked, the verdict, and a sentence saying why.

    ``exit_code`` is the documented code of a failure (3, 4 or 5), 0 otherwise.
    """

    name: str
    verdict: Verdict
    detail: str
    exit_code: int = 0


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_configuration(settings: Settings) -> Check:
    """
    Report where the tool will talk to and read from.
    """
    return Check(
        "configuration",
        "ok",
        f"auth URL {settings.url}, profile {settings.profile!r}, "
        f"config dir {settings.resolved_config_dir()}, cache dir {settings.resolved_cache_dir()}",
    )


def check_store(settings: Settings) -> Check:
    """
    Check that the profile's credentials parse and are private (or come from the env).
    """
    store = Store(settings)
    directory = store.paths.directory
    if credentials_from_env() is not None:
        return Check("credentials", "ok", "SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET are set")
    try:
        stored = store.read()
    except LocalStateError as exc:
        return Check("credentials", "fail", str(exc), 5)
    if stored is None:
        return Check(
            "credentials",
            "fail",
            f"no credentials for profile {store.profile!r} in {directory}; "
            "run 'spatiafi-ops credentials create'",
            5,
        )
    if directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) & 0o077:
        return Check(
            "credentials",
            "warn",
            f"client {stored.client_id} stored, but {directory} is open to group or others; "
            f"run 'chmod 700 {directory}'",
        )
    return Check("credentials", "ok", f"client {stored.client_id} stored privately")


def check_proxies() -> Check:
    """
    Report the proxy and CA variables that requests will honour (credentials hidden).
    """
    found = []
    for name in PROXY_VARIABLES:
        value = os.environ.get(name) or os.environ.get(name.lower())
        if value:
            found.append(f"{name}={_without_userinfo(value)}")
    if not found:
        return Check("proxy", "ok", "no proxy or custom CA variables set")
    return Check("proxy", "ok", "requests will use " + ", ".join(found))


def check_service(settings: Settings) -> list[Check]:
    """
    Reach the service once; from its answer judge reachability and clock skew.
    """
    import requests

    from ._http import translate_errors

    url = settings.url + BASIC_TOKEN_PATH
    try:
        with translate_errors(url):
            response = requests.get(url, timeout=settings.timeout)
    except ServiceError as exc:
        return [
            Check("reachability", "fail", str(exc), 4),
            Check("clock", "warn", "skipped: the service did not answer"),
        ]
    checks = [
        Check(
            "reachability",
            "ok" if response.status_code in (200, 400, 401) else "warn",
            f"{url} answered HTTP {response.status_code} without credentials"
            + ("" if response.status_code == 401 else " (expected 401)"),
        )
    ]
    date = response.headers.get("Date")
    try:
        server_time = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        server_time = None
    if server_time is None:
        checks.append(Check("clock", "warn", "the service sent no usable Date header"))
        return checks
    skew = time.time() - server_time
    verdict: Verdict = "ok" if abs(skew) <= MAX_CLOCK_SKEW else "fail"
    checks.append(
        Check(
            "clock",
            verdict,
            f"local clock is {skew:+.0f}s from the service's"
            + ("" if verdict == "ok" else "; assertions will be rejected: sync the clock (NTP)"),
            0 if verdict == "ok" else 5,
        )
    )
    return checks


def check_mint(settings: Settings) -> Check:
    """
    Mint one token with the credentials in use (never cached, never printed).
    """
    from ._auth import mint_token
    from ._sources import load_credentials

    try:
        credentials = load_credentials(settings)
        token = mint_token(credentials, settings)
    except CredentialsRejected as exc:
        return Check("mint", "fail", str(exc), 3)
    except ServiceError as exc:
        return Check("mint", "fail", str(exc), 4)
    except SpatiafiOpsError as exc:
        return Check("mint", "fail", str(exc), 5)
    return Check(
        "mint", "ok", f"minted a token for {credentials.client_id}, {token.ttl():.0f}s left"
    )


def run_checks(settings: Settings) -> list[Check]:
    """
    Run every check in order, skipping the mint when the service is unreachable.
    """
    if credentials_from_env() is None:
        settings = Store(settings).resolved_settings()
    checks = [check_configuration(settings), check_store(settings), check_proxies()]
    service = check_service(settings)
    checks += service
    if service[0].verdict != "fail":
        checks.append(check_mint(settings))
    return checks
