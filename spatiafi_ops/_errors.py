"""
The exception tree of spatiafi-ops, in its own module to avoid import loops.

::

    SpatiafiOpsError              base; never raised bare              (CLI exit 1)
    ├── UsageError                a value the caller gave is invalid       (exit 2)
    │   ├── LoginRequired         no username or password to be had (no terminal to ask)
    │   ├── InsecureTransport     http:// to a host that is not loopback
    │   └── MissingExtra          an optional integration whose extra is not installed
    ├── ServiceError              the service failed or answered nonsense  (exit 4)
    │   ├── ServiceUnavailable    network, timeout, 429, 5xx: the only class retried
    │   │   └── DeadlineExceeded  the overall --deadline is spent
    │   ├── UnexpectedResponse    200 without access_token, non-JSON body, wrong shape
    │   ├── RequestRejected       a 4xx that is not about the credentials (404, 422, ...)
    │   ├── SecretStoreUnavailable  a sink or source (AWS, gh, a command) failed transiently
    │   └── CredentialsRejected   bad password, invalid or revoked client  (exit 3)
    └── LocalStateError           local files, locks, output targets       (exit 5)
        ├── CredentialFileError   missing, corrupt or incomplete credential file
        ├── InsecurePermissions   a secret readable by group or others
        ├── LockTimeout           another run held the profile lock too long
        ├── LockUnavailable       no kernel lock can be had here (a network share)
        ├── CredentialsExist      the profile already holds credentials (use --force)
        ├── UnknownClient         a client id neither the service nor this profile knows
        ├── UnusableClient        a created client the store cannot hold (revoked at once)
        ├── UnsafeValue           a value the chosen output format cannot carry
        ├── OutputError           an output target that is unset or unwritable
        ├── SecretStoreRefused    a sink or source refused, or is misconfigured
        ├── SwitchLost            another replica switched the shared store first
        └── ClockSkew             our clock and the service's disagree too much to mint

The library knows nothing of processes: ``spatiafi_ops.cli`` maps these classes to
exit codes. ``str(exc)`` is one sentence and never contains a secret.
"""

from __future__ import annotations


class SpatiafiOpsError(Exception):
    """
    Base of every error this package raises on purpose.
    """


class UsageError(SpatiafiOpsError):
    """
    A value the caller gave (option, environment variable, argument) is invalid.
    """


class LoginRequired(UsageError):
    """
    A run needs the user's login and none can be had (no variable, no stdin, no terminal).
    """


class InsecureTransport(UsageError):
    """
    Credentials would travel in cleartext: ``http://`` to a host that is not loopback.
    """


class MissingExtra(UsageError):
    """
    An optional integration was asked for, but its extra is not installed.
    """


class ServiceError(SpatiafiOpsError):
    """
    The SpatiaFi Auth API failed, or answered something we cannot use.

    ``error`` and ``detail`` are the machine code and the description of the service's
    error body (RFC 6749 ``error``/``error_description`` or FastAPI ``detail``), scrubbed
    of secrets and control characters; ``None`` when it sent none.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        error: str | None = None,
        detail: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.url = url
        self.error = error
        self.detail = detail


class ServiceUnavailable(ServiceError):
    """
    A transient failure: network error, timeout, 429 or 5xx. Retried with backoff.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        error: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
        request_sent: bool = True,
    ):
        super().__init__(message, status=status, url=url, error=error, detail=detail)
        self.retry_after = retry_after
        # False when the request provably never reached the server (connect failure),
        # so that a non-idempotent POST is safe to repeat.
        self.request_sent = request_sent


class DeadlineExceeded(ServiceUnavailable):
    """
    The overall deadline was spent before the service answered usefully.
    """


class UnexpectedResponse(ServiceError):
    """
    The service answered with a body we cannot interpret (HTML, truncated JSON, no token).
    """


class RequestRejected(ServiceError):
    """
    The service refused the request itself (a 4xx other than a credential rejection).
    """


class CredentialsRejected(ServiceError):
    """
    The service refused the credentials: bad password, invalid or revoked client.

    A rejection of an assertion for its times, even signed on the service's clock, is
    ``ClockSkew`` instead: nothing is wrong with the credentials then.
    """


class LocalStateError(SpatiafiOpsError):
    """
    Something on this machine is missing, corrupt, insecure, locked or unwritable.
    """

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class CredentialFileError(LocalStateError):
    """
    A credential or state file is missing, unreadable, corrupt or incomplete.
    """


class InsecurePermissions(LocalStateError):
    """
    A file holding secrets is readable by group or others.
    """


class LockTimeout(LocalStateError):
    """
    Another run held the profile lock for longer than we were willing to wait.
    """


class LockUnavailable(LocalStateError):
    """
    The file system cannot hold a kernel lock (a network share, a missing ``fcntl``).
    """


class CredentialsExist(LocalStateError):
    """
    The profile already holds credentials and the caller did not ask to replace them.
    """


class UnknownClient(LocalStateError):
    """
    A client id that the service does not list and this profile never held (a typo?).
    """


class UnusableClient(LocalStateError):
    """
    The service created a client whose answer this tool cannot store (a secret with control
    characters, an id that is not a UUID); the engine revokes it at once and stops.

    ``client_id`` is the id the answer named, when it is safe to send back (else ``None``).
    """

    def __init__(self, message: str, *, client_id: str | None = None):
        super().__init__(message)
        self.client_id = client_id


class UnsafeValue(LocalStateError):
    """
    A value cannot be written in the chosen format without being mangled.
    """

    def __init__(self, message: str, *, name: str, path: str | None = None):
        super().__init__(message, path=path)
        self.name = name


class OutputError(LocalStateError):
    """
    An output target is not set (``GITHUB_OUTPUT``) or cannot be written.
    """


class ClockSkew(LocalStateError):
    """
    The service rejects our assertions for their times, even signed on its own clock.

    ``offset`` is the service's clock minus ours, in seconds, when it could be measured.
    """

    def __init__(self, message: str, *, offset: float | None = None, path: str | None = None):
        super().__init__(message, path=path)
        self.offset = offset


class SwitchLost(LocalStateError):
    """
    A store that compares and swaps found another run's switch first: the credentials
    this run made were never current. ``current_client_id`` is what the store holds now.
    """

    def __init__(self, message: str, *, current_client_id: str | None) -> None:
        super().__init__(message)
        self.current_client_id = current_client_id
        # The clients the losing change revoked (its own), set as the engine closes it.
        self.revoked: tuple[str, ...] = ()


class SecretStoreUnavailable(ServiceError):
    """
    A place credentials are published to or read from failed in a way a later run can
    get past (unreachable, throttled, timed out). ``target`` names it (no secret).
    """

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class SecretStoreRefused(LocalStateError):
    """
    A place credentials are published to or read from refused them, or is misconfigured
    (no such secret, no permission, no ``gh`` on PATH). ``target`` names it (no secret).
    """

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target
