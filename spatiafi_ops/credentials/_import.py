"""
``credentials import``: adopt app credentials that py-spatiafi or the tutorial wrote.

They write ``{user_id, client_id, client_secret}`` with ``open(..., "w")``: mode 0644 and
no ``created_at``. Importing stores them as this tool does (0600 in a 0700 directory,
atomically) with a ``created_at``, so that the next ``rotate --max-age`` does not rotate
at once (docs/files.md).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

from .. import _log
from .._config import Settings
from .._durations import parse_duration
from .._errors import CredentialFileError, CredentialsExist, LockTimeout, UsageError
from .._files import DIR_MODE, exclusive_lock
from .._models import Action, AppCredentials, ProvisionResult, parse_timestamp
from .._statefiles import MAX_STATE_BYTES, OPEN_FLAGS, read_all, read_private_file
from ..tokens._cache import TokenCache
from ._credfile import check_created_at, credentials_from_json, parse_state_json
from ._store import Store

log = _log.get_logger(__name__)

# What --created-at takes besides ISO 8601: "now", or a time ago with its unit ("30d").
_AGO = re.compile(r"\d+(?:\.\d+)?[smhd]")
_T = TypeVar("_T")


def parse_created_at(text: str, *, now: float | None = None) -> float:
    """
    Return the epoch of ``--created-at``: ``now``, a time ago (``90s``, ``15m``, ``12h``,
    ``30d``) or an ISO 8601 date or date-time (UTC unless it says otherwise).

    Raises:
        ValueError: with a sentence fit for the user.
    """
    now = time.time() if now is None else now
    value = text.strip()
    try:
        if value == "now":
            return now
        if _AGO.fullmatch(value):
            return check_created_at(now - parse_duration(value))
        return check_created_at(parse_timestamp(value))
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text[:40]!r} is not a creation time: give an ISO 8601 date or time between "
            "1970 and now (2024-05-01, 2024-05-01T12:00:00Z), a time ago (30d, 12h) or now"
        ) from None


class _Incoming(NamedTuple):
    """
    Credentials to import, where they came from, and when that source was last changed.
    """

    credentials: AppCredentials
    origin: str
    mtime: float | None


def import_credentials(
    settings: Settings,
    source: Path | BinaryIO | None = None,
    *,
    created_at: float | None = None,
    force: bool = False,
) -> ProvisionResult:
    """
    Store app credentials written by py-spatiafi or the tutorial in the profile.

    Without *source*, adopt the profile's own file in place: rewritten atomically 0600,
    its directory tightened to 0700, a ``created_at`` added. With a path or a binary
    stream (standard input), read that JSON and store it. ``created_at`` is *created_at*,
    else the source's own, else the source file's modification time, else now: adopting
    a file never makes the next ``rotate --max-age`` rotate at once. Nothing is written
    when anything fails; the secret is never in a message.

    Raises:
        UsageError: *source* is missing, a directory, or an empty stream.
        CredentialFileError: the source is not JSON credentials (shape, id, secret, times).
        CredentialsExist: the profile holds other credentials (without *force*), or a
            rotation is unfinished.
        InsecurePermissions: a file or directory of the profile is not this user's.
        LockTimeout: another run held the profile lock for the whole deadline.
    """
    store = Store(settings)
    keep_created_at = created_at is None
    # Judge the input before anything on disk changes: garbage leaves no trace.
    if source is None:
        _read_in_place(store, keep_created_at=keep_created_at)
        _tighten_directory(store)
    else:
        incoming = _read_source(source, keep_created_at=keep_created_at, deadline=settings.deadline)
    with exclusive_lock(store.paths.lock, wait=settings.deadline) as acquired:
        if not acquired:
            raise LockTimeout(
                f"another run holds the lock of profile {store.profile!r}",
                path=str(store.paths.lock),
            )
        if store.has_unfinished_rotation():
            raise CredentialsExist(
                f"profile {store.profile!r} has an unfinished rotation; run 'credentials "
                "rotate' (or 'ensure') to finish it before importing credentials",
                path=str(store.paths.state),
            )
        if source is None:  # again, under the lock: what we adopt is what is there now
            incoming = _read_in_place(store, keep_created_at=keep_created_at)
        if incoming.credentials.auth_url is None and settings.auth_url is not None:
            credentials = incoming.credentials._replace(auth_url=settings.auth_url)
            incoming = incoming._replace(credentials=credentials)
        return _store(store, settings, incoming, created_at=created_at, force=force)


def _store(
    store: Store,
    settings: Settings,
    incoming: _Incoming,
    *,
    created_at: float | None,
    force: bool,
) -> ProvisionResult:
    new = incoming.credentials
    when = created_at if created_at is not None else new.created_at
    if when is None:
        when = min(incoming.mtime, time.time()) if incoming.mtime is not None else time.time()
    new = new._replace(created_at=when)
    current = _current(store, force=force)
    previous: AppCredentials | None = None
    action: Action = "imported"
    if current is not None and _same_client(current[0], new):
        stored, path = current
        if _needs_no_write(store, stored, path, created_at):
            action = "unchanged"
            new = stored
    elif current is not None:
        previous = current[0]
        if not force:
            raise CredentialsExist(
                f"profile {store.profile!r} already holds other credentials (client "
                f"{previous.client_id}); pass --force to replace them (they are kept in "
                f"{store.paths.backups})",
                path=str(current[1]),
            )
        store.backup(previous)
    if action == "imported":
        store.write(new)
    if previous is not None:
        url = settings.resolve(previous.auth_url).url
        TokenCache.for_settings(settings).discard(url, previous)
    log.info(
        "credentials_imported",
        profile=store.profile,
        client_id=new.client_id,
        action=action,
        source=incoming.origin,
    )
    return ProvisionResult(
        profile=store.profile,
        action=action,
        client_id=new.client_id,
        previous_client_id=previous.client_id if previous is not None else None,
        created_at=new.created_at,
        reason=f"from {incoming.origin}",
    )


def _same_client(a: AppCredentials, b: AppCredentials) -> bool:
    return (a.client_id, a.client_secret) == (b.client_id, b.client_secret)


def _needs_no_write(
    store: Store, stored: AppCredentials, path: Path, created_at: float | None
) -> bool:
    """
    Return whether the stored file already is what an import would write.
    """
    if path != store.paths.credentials or stored.created_at is None:
        return False  # the legacy file moves to ours; a created_at is added
    if created_at is not None and int(created_at) != int(stored.created_at):
        return False
    found = read_private_file(path, allow_insecure=True)
    return found is not None and not found.open_to_others


def _current(store: Store, *, force: bool) -> tuple[AppCredentials, Path] | None:
    """
    Return what the profile holds now. A corrupt file is an error, or with *force*, is
    moved to the backups so that the import can replace it.
    """
    try:
        return store.read_located(allow_insecure=True)
    except CredentialFileError as exc:
        if not force or exc.path is None:
            raise
        broken = Path(exc.path)
        if broken.parent != store.paths.directory or not broken.is_file():
            raise
        moved = store.set_aside(broken, f"unreadable-{broken.name}")
        log.warning("unreadable_credentials_set_aside", path=str(broken), backup=str(moved))
        return _current(store, force=force)


def _tighten_directory(store: Store) -> None:
    """
    Make the profile's own directory 0700 when it is this user's (py-spatiafi leaves it
    0755), before the lock file is made in it.
    """
    directory = store.paths.directory
    if sys.platform != "win32" and directory.is_dir():
        info = os.stat(directory)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != DIR_MODE:
            os.chmod(directory, DIR_MODE)
            log.info("directory_tightened", path=str(directory), mode="0700")


def _read_in_place(store: Store, *, keep_created_at: bool) -> _Incoming:
    """
    Read the profile's own file (ours, else the tutorial's), whatever its mode: it must
    be a regular file of this user's, not a link.

    Raises:
        UsageError: when the profile has no file to adopt.
    """
    for path in store.candidates():
        found = read_private_file(path, allow_insecure=True)
        if found is not None:
            credentials = _parse(found.data, path, keep_created_at=keep_created_at)
            return _Incoming(credentials, str(path), found.mtime)
    raise UsageError(
        f"profile {store.profile!r} has no credential file to adopt (looked for "
        f"{store.paths.credentials}); give the file to import: 'credentials import PATH' "
        "(or - for standard input)"
    )


def _within(seconds: float, what: str, read: Callable[[], _T]) -> _T:
    """
    Return what *read* returns, unless it takes more than *seconds*: a named pipe with no
    writer, or a producer that stalls, blocks a read for ever.

    The read runs in a daemon thread, left blocked when time is up; the process is about
    to exit with the error anyway.

    Raises:
        CredentialFileError: when *seconds* pass first; what *read* raised, if it did.
    """
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, read()))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))

    reader = threading.Thread(target=run, name="spatiafi-import-read", daemon=True)
    reader.start()
    reader.join(max(0.0, seconds))
    if not outcome:
        raise CredentialFileError(
            f"nothing complete arrived on {what} within {seconds:g}s (--deadline); is a "
            "program writing the credential JSON to it?",
            path=what,
        )
    done, value = outcome[0]
    if not done:
        raise value
    result: _T = value
    return result


def _read_source(source: Path | BinaryIO, *, keep_created_at: bool, deadline: float) -> _Incoming:
    """
    Read credentials JSON from a file the user named (links followed, like cp) or from a
    stream, at most ``MAX_STATE_BYTES``, within *deadline* seconds.

    Raises:
        UsageError: a missing file, a directory, or nothing on the stream.
    """
    if not isinstance(source, Path):
        stream = source
        data = _within(deadline, "standard input", lambda: stream.read(MAX_STATE_BYTES + 1))
        if len(data) > MAX_STATE_BYTES:
            raise CredentialFileError("standard input holds more than a credential file")
        if not data.strip():
            raise UsageError(
                "nothing to import on standard input; pipe the credential JSON in, for "
                "example 'spatiafi-ops credentials import - < app_credentials.json'"
            )
        credentials = _parse(data, Path("standard input"), keep_created_at=keep_created_at)
        return _Incoming(credentials, "standard input", None)
    if source.is_dir():
        raise UsageError(
            f"{source} is a directory; give the credential file in it "
            "(app_credentials.json, or the tutorial's app_credentials)"
        )
    info, data = _within(deadline, str(source), lambda: _read_file(source))
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and sys.platform != "win32":
        log.warning(
            "import_source_readable_by_others",
            path=str(source),
            reason="the secret is now stored privately; delete the source file",
        )
    mtime = info.st_mtime if stat.S_ISREG(info.st_mode) else None
    return _Incoming(_parse(data, source, keep_created_at=keep_created_at), str(source), mtime)


def _read_file(path: Path) -> tuple[os.stat_result, bytes]:
    """
    Return what *path* is and holds (at most ``MAX_STATE_BYTES``); blocks on a named pipe
    until a writer comes and goes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | OPEN_FLAGS)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; give the credential file to import") from None
    except OSError as exc:
        raise CredentialFileError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    try:
        return os.fstat(fd), read_all(fd, path, limit=MAX_STATE_BYTES)
    finally:
        os.close(fd)


def _parse(data: bytes, path: Path, *, keep_created_at: bool) -> AppCredentials:
    """
    Parse and check credentials JSON; a ``created_at`` that --created-at replaces is not
    judged (that option is how a bad one is fixed).
    """
    parsed: Any = parse_state_json(data, path, advice="nothing was imported")
    if not keep_created_at and isinstance(parsed, dict):
        parsed.pop("created_at", None)
    credentials = credentials_from_json(parsed, path)
    given = parsed.get("created_at") if isinstance(parsed, dict) else None
    if isinstance(given, str):
        try:  # what is imported is judged strictly: a stored one is only read leniently
            check_created_at(parse_timestamp(given))
        except (ValueError, OverflowError):
            raise CredentialFileError(
                f"{path} has a created_at in the future; give the real one with "
                "--created-at WHEN (nothing was imported)",
                path=str(path),
            ) from None
    return credentials
