"""
Diagnostics: configuration, permissions, proxies, reachability, clock skew, minting.

Each check returns a verdict; none raises. The CLI prints them and picks the exit code.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Literal, NamedTuple

from ._api import BASIC_TOKEN_PATH
from ._clock import ServiceClock
from ._config import Settings
from ._environ import credentials_from_env
from ._errors import (
    ClockSkew,
    CredentialsRejected,
    LocalStateError,
    ServiceError,
    SpatiafiOpsError,
    UsageError,
)
from ._http import Deadline, HttpClient
from ._transport import proxy_for
from ._watchdog import check_cleartext
from .credentials._sources import load_credentials
from .credentials._store import Store

Verdict = Literal["ok", "warn", "fail"]
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


class Check(NamedTuple):
    """
    One diagnostic: what was checked, the verdict, and a sentence saying why.

    ``exit_code`` is the documented code of a failure (2, 3, 4 or 5), 0 otherwise.
    """

    name: str
    verdict: Verdict
    detail: str
    exit_code: int = 0


def without_userinfo(value: str) -> str:
    """
    Return a proxy setting with any ``user:password@`` hidden, with or without a scheme.
    """
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "", value
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return scheme + separator + authority + slash + path


def check_configuration(settings: Settings) -> Check:
    """
    Report where the tool will talk to and read from; cleartext beyond loopback fails.
    """
    where = (
        f"auth URL {settings.url}, profile {settings.profile!r}, "
        f"config dir {settings.resolved_config_dir()}, cache dir {settings.resolved_cache_dir()}"
    )
    try:
        check_cleartext(settings.url, proxy_for(settings.url), allowed=False)
    except UsageError as exc:
        if not settings.allow_insecure_transport:
            return Check("configuration", "fail", f"{where}; {exc}", 2)
        return Check(
            "configuration",
            "warn",
            f"{where}; secrets travel in cleartext (--allow-insecure-transport)",
        )
    return Check("configuration", "ok", where)


def check_store(settings: Settings, platform: str = sys.platform) -> Check:
    """
    Check that the profile's credentials parse and are private (or come from the env).

    Private means no group or other bits on POSIX; Windows has no such bits, so there it
    means inside the user's profile, whose ACL guards the files (docs/files.md).
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
    if platform == "win32":
        return _inside_the_profile(stored.client_id, directory)
    if directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) & 0o077:
        return Check(
            "credentials",
            "warn",
            f"client {stored.client_id} stored, but {directory} is open to group or others; "
            f"run 'chmod 700 {directory}'",
        )
    return Check("credentials", "ok", f"client {stored.client_id} stored privately")


def _inside_the_profile(client_id: str, directory: Path) -> Check:
    # Path.home() is %USERPROFILE% on Windows: its ACL, inherited by what is made below it,
    # admits the user, SYSTEM and Administrators only. Outside it, the folder's ACL decides.
    profile = Path.home()
    if directory.resolve().is_relative_to(profile.resolve()):
        return Check("credentials", "ok", f"client {client_id} stored under your profile {profile}")
    return Check(
        "credentials",
        "warn",
        f"client {client_id} stored in {directory}, outside your profile {profile}: the files "
        "get that folder's access rules, which may let other users read them; keep "
        "--config-dir under your profile",
    )


def check_proxies(settings: Settings) -> Check:
    """
    Report the proxy and CA variables that the transport honours (credentials hidden),
    and the proxy that the auth URL goes through.
    """
    import os

    found = []
    for name in PROXY_VARIABLES:
        value = os.environ.get(name) or os.environ.get(name.lower())
        if value:
            found.append(f"{name}={without_userinfo(value)}")
    if not found:
        return Check("proxy", "ok", "no proxy or custom CA variables set")
    proxy = proxy_for(settings.url)
    route = f"through {without_userinfo(proxy)}" if proxy else "directly"
    return Check("proxy", "ok", f"{', '.join(found)}; the auth URL is reached {route}")


def check_reachability(settings: Settings, clock: ServiceClock, deadline: Deadline) -> Check:
    """
    Reach the service once, without credentials, over the bounded transport.
    """
    url = settings.url + BASIC_TOKEN_PATH
    try:
        with HttpClient.for_settings(settings, deadline, clock=clock) as http:
            status = http.fetch("GET", url).status_code
    except SpatiafiOpsError as exc:
        return Check("reachability", "fail", str(exc), 4)
    return Check(
        "reachability",
        "ok" if status in (200, 400, 401) else "warn",
        f"{url} answered HTTP {status} without credentials"
        + ("" if status == 401 else " (expected 401)"),
    )


def check_clock(clock: ServiceClock, mint_error: SpatiafiOpsError | None) -> Check:
    """
    Judge the offset measured from the service's Date headers by whether it breaks a mint.

    Assertions are signed on the service's clock when ours is off, so skew alone is a
    warning; it fails only when the service still refuses an assertion for its times.
    """
    if isinstance(mint_error, ClockSkew):
        return Check("clock", "fail", str(mint_error), 5)
    if clock.offset is None:
        return Check("clock", "warn", "the service sent no usable Date header to compare with")
    if not clock.skewed:
        return Check("clock", "ok", clock.describe())
    return Check(
        "clock",
        "warn",
        f"{clock.describe()}; assertions are signed on the service's clock to make up "
        "for it, but sync this machine's clock (NTP)",
    )


def check_mint(
    settings: Settings, clock: ServiceClock, deadline: Deadline
) -> tuple[Check, SpatiafiOpsError | None]:
    """
    Mint one token with the credentials in use (never cached, never printed); return the
    verdict and the error that failed it, if one did.
    """
    from .tokens._mint import mint_token  # authlib: only when the credentials check mints

    try:
        credentials = load_credentials(settings)
        token = mint_token(credentials, settings, deadline=deadline, clock=clock)
    except CredentialsRejected as exc:
        return Check("mint", "fail", str(exc), 3), exc
    except ServiceError as exc:
        return Check("mint", "fail", str(exc), 4), exc
    except SpatiafiOpsError as exc:
        code = 2 if isinstance(exc, UsageError) else 5
        return Check("mint", "fail", str(exc), code), exc
    detail = f"minted a token for {credentials.client_id}, {token.ttl():.0f}s left"
    return Check("mint", "ok", detail), None


def run_checks(settings: Settings) -> list[Check]:
    """
    Run every check in order, within one deadline; the service is not contacted when the
    configuration fails, nor a mint tried when it does not answer.
    """
    if credentials_from_env() is None:
        settings = Store(settings).resolved_settings()
    configuration = check_configuration(settings)
    checks = [configuration, check_store(settings), check_proxies(settings)]
    if configuration.verdict == "fail":
        return checks
    clock = ServiceClock()
    deadline = Deadline(settings.deadline)
    reachability = check_reachability(settings, clock, deadline)
    checks.append(reachability)
    if reachability.verdict == "fail":
        checks.append(Check("clock", "warn", "skipped: the service did not answer"))
        return checks
    mint, error = check_mint(settings, clock, deadline)
    return [*checks, check_clock(clock, error), mint]
