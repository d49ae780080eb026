"""
Sources: where a consumer reads its app credentials at run time.

``--credentials-from SOURCE`` / ``SPATIAFI_CREDENTIALS_FROM`` (``Settings.credentials_from``)
for ``token``, ``exec``, ``emit`` and ``load_credentials``::

    env                          SPATIAFI_CLIENT_ID + SPATIAFI_CLIENT_SECRET
    env:NAME                     a JSON object {client_id, client_secret, ...} in variable NAME
    file:PATH                    a JSON file of that shape (links followed: a mounted Secret)
    profile                      the profile's stored credentials
    aws-secretsmanager:SECRET-ID the AWSCURRENT version (extra spatiafi-ops[aws])

Without one, py-spatiafi's order: the environment pair when both are set, else the profile.
The token cache is keyed by the secret's fingerprint, so a consumer follows a rotation on
its next call: new credentials in the source, a new cache key, a new token.

The source classes are plain classes, and the protocol exists for type checkers only: a
dataclass, a NamedTuple or a Protocol costs a fraction of a millisecond to define, and this
module is on the cached-token path (make bench).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .._config import Settings, check_source_spec
from .._environ import credentials_from_env
from .._errors import CredentialFileError, UsageError
from .._models import AppCredentials
from .._statefiles import read_provisioned_file
from ._credfile import credentials_from_json, parse_state_json
from ._store import Store, profile_store

if TYPE_CHECKING:

    class Source(Protocol):
        """
        A place app credentials are read from; ``target`` names it (never holds a secret).
        """

        @property
        def target(self) -> str:
            """
            Return the source's spec.
            """

        def load(self, settings: Settings) -> AppCredentials:
            """
            Return the credentials the source holds now.
            """


class EnvSource:
    """
    ``env``: the ``SPATIAFI_CLIENT_ID`` / ``SPATIAFI_CLIENT_SECRET`` pair, both required.
    """

    __slots__ = ("environ",)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ

    @property
    def target(self) -> str:
        return "env"

    def load(self, settings: Settings) -> AppCredentials:
        credentials = credentials_from_env(self.environ)
        if credentials is None:
            raise CredentialFileError(
                "--credentials-from env: set both SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET"
            )
        return credentials


class EnvJsonSource:
    """
    ``env:NAME``: one JSON object in a variable (what the ``github:`` sink publishes).
    """

    __slots__ = ("environ", "name")

    def __init__(self, name: str, environ: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.environ = environ

    @property
    def target(self) -> str:
        return f"env:{self.name}"

    def load(self, settings: Settings) -> AppCredentials:
        env = os.environ if self.environ is None else self.environ
        text = env.get(self.name, "")
        if not text.strip():
            raise CredentialFileError(f"--credentials-from {self.target}: {self.name} is not set")
        label = Path(f"${self.name}")
        # The state files' strict parser: no NaN or Infinity, bounded nesting.
        raw = text.encode("utf-8", "surrogateescape")
        data = parse_state_json(raw, label, advice="set it to the credentials JSON")
        return credentials_from_json(data, label)


class FileSource:
    """
    ``file:PATH``: a py-spatiafi credentials file, checked like the store's own.
    """

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def target(self) -> str:
        return f"file:{self.path}"

    def load(self, settings: Settings) -> AppCredentials:
        if not self.path.exists():
            raise CredentialFileError(
                f"--credentials-from {self.target}: no such file", path=str(self.path)
            )
        raw = read_provisioned_file(self.path, allow_insecure=settings.allow_insecure_permissions)
        return credentials_from_json(parse_state_json(raw, self.path), self.path)


class ProfileSource:
    """
    ``profile``: the profile's stored credentials.
    """

    __slots__ = ()

    @property
    def target(self) -> str:
        return "profile"

    def load(self, settings: Settings) -> AppCredentials:
        return Store(settings).require()


class DefaultSource:
    """
    py-spatiafi's order: the environment pair when both are set, else the profile.
    """

    __slots__ = ("environ",)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ

    @property
    def target(self) -> str:
        return "env, else profile"

    def load(self, settings: Settings) -> AppCredentials:
        from_env = credentials_from_env(self.environ)
        if from_env is not None:
            return from_env
        return Store(settings).require()


def parse_source(spec: str, environ: Mapping[str, str] | None = None) -> Source:
    """
    Return the source that *spec* names.

    Raises:
        UsageError: for a malformed spec; MissingExtra for AWS without its extra.
    """
    try:
        text = check_source_spec(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if text == "env":
        return EnvSource(environ)
    if text == "profile":
        return ProfileSource()
    kind, _, rest = text.partition(":")
    if kind == "env":
        return EnvJsonSource(rest, environ)
    if kind == "file":
        return FileSource(Path(rest))
    # the AWS adapter: only for an aws-secretsmanager: source
    from .._aws import SecretsManagerSource

    return SecretsManagerSource(rest)


def source_for(settings: Settings, environ: Mapping[str, str] | None = None) -> Source:
    """
    Return the source the settings name, else the profile's store when it is a secret
    (its AWSCURRENT), else py-spatiafi's default order.
    """
    if settings.credentials_from:
        return parse_source(settings.credentials_from, environ)
    store = profile_store(settings)
    if store is not None:
        return parse_source(store, environ)
    return DefaultSource(environ)


def load_credentials(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> AppCredentials:
    """
    Return app credentials from ``settings.credentials_from``, else from the environment
    pair, else from the profile (py-spatiafi's order).
    """
    settings = settings if settings is not None else Settings.from_env()
    return source_for(settings, environ).load(settings)
