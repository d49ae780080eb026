"""
The access-token cache: one 0600 file per (auth URL, client, secret fingerprint).

Keying by a fingerprint of the secret means a rotated secret never reuses a token minted
with the old one (README: Security). The file holds the token, never the client secret.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from _blake2 import blake2b
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _log
from .._config import Settings
from .._errors import LocalStateError
from .._files import atomic_write, ensure_private_dir, exclusive_lock
from .._models import AccessToken, AppCredentials, is_bearer_type
from .._redaction import register_secret
from .._statefiles import check_private_dir, read_private_file

if TYPE_CHECKING:
    pass  # requests: only on a miss

log = _log.get_logger(__name__)

# The file name is a one-way hash of (auth URL, client id, secret): a rotated secret never
# finds a token minted with the old one, and the name reveals nothing of the secret.
# BLAKE2b from its own module: hashlib would load OpenSSL, some 4 ms of the cached-token
# path's budget (make bench).
_CACHE_KEY_CONTEXT = b"spatiafi-ops token cache v1"
# Access tokens live 15 minutes; a cached one said to live longer than a day is not one
# the service issued (a misread expiry, or a planted file), so it is never served.
MAX_TOKEN_LIFETIME = 24 * 3600.0


def cache_key(auth_url: str, credentials: AppCredentials) -> str:
    """
    Return the hex digest naming the cache file of these credentials at *auth_url*.
    """
    parts = (auth_url, credentials.client_id, credentials.client_secret)
    digest = blake2b(_CACHE_KEY_CONTEXT, digest_size=20)
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


class TokenCache:
    """
    Cached access tokens under one directory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_settings(cls, settings: Settings) -> TokenCache:
        """
        Return the cache the settings name: their cache directory, or the per-user default.
        """
        return cls(settings.resolved_cache_dir())

    def path_for(self, auth_url: str, credentials: AppCredentials) -> Path:
        """
        Return the cache file of this (auth URL, client, secret) triple.
        """
        return self.directory / f"token-{cache_key(auth_url, credentials)}.json"

    def load(
        self, auth_url: str, credentials: AppCredentials, *, min_ttl: float
    ) -> AccessToken | None:
        """
        Return the cached token if it has at least *min_ttl* seconds left, else ``None``.

        A missing, unreadable or corrupt cache file is a miss, never an error: the cache
        is disposable. So is one that is not ours alone (another user could have planted
        a token for us to send): a directory or file another user owns or can write, a
        symbolic link, a FIFO (never waited on), a token that outlives any real one.
        """
        path = self.path_for(auth_url, credentials)
        try:
            check_private_dir(self.directory)
            stored = read_private_file(path)
            if stored is None:
                return None
            data = json.loads(stored.data)
            token = AccessToken(
                value=str(data["access_token"]),
                token_type=str(data["token_type"]),
                expires_at=float(data["expires_at"]),
            )
        except (LocalStateError, ValueError, KeyError, TypeError, RecursionError):
            return None
        ttl = token.ttl(time.time())
        if (
            not token.value
            or not is_bearer_type(token.token_type)
            or not math.isfinite(ttl)
            or ttl > MAX_TOKEN_LIFETIME
            or ttl < min_ttl
        ):
            return None
        register_secret(token.value)
        return token

    def save(self, auth_url: str, credentials: AppCredentials, token: AccessToken) -> None:
        """
        Store *token* atomically with mode 0600.
        """
        ensure_private_dir(self.directory)
        data = {
            "access_token": token.value,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "client_id": credentials.client_id,
            "auth_url": auth_url,
        }
        # Disposable: a token lost in a power cut costs one mint, so no fsync (make bench).
        atomic_write(self.path_for(auth_url, credentials), json.dumps(data).encode(), durable=False)

    def discard(self, auth_url: str, credentials: AppCredentials) -> None:
        """
        Forget the token cached for these credentials (after a rotation or a rejection).
        """
        # Not the .lock: another process may hold it, and a new file would not be locked.
        # Best effort: a token left in a directory we cannot write is one we never read.
        with contextlib.suppress(OSError):
            self.path_for(auth_url, credentials).unlink()

    @contextlib.contextmanager
    def minting(self, auth_url: str, credentials: AppCredentials, *, wait: float) -> Iterator[None]:
        """
        Serialise minting for one key, so that concurrent processes mint once between them.
        """
        lock_path = self.path_for(auth_url, credentials).with_suffix(".lock")
        with exclusive_lock(lock_path, wait=wait):
            yield
