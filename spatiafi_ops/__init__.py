"""
spatiafi-ops: unattended, safe SpatiaFi OAuth 2.0 app credentials.

Names load lazily (module ``__getattr__``, as structlog does), so that importing the
package, or reading a cached token, never imports requests, authlib or tenacity.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._clock import ServiceClock
    from ._config import Settings
    from ._durations import parse_duration
    from ._errors import (
        ClockSkew,
        CredentialFileError,
        CredentialsExist,
        CredentialsRejected,
        DeadlineExceeded,
        InsecurePermissions,
        InsecureTransport,
        LocalStateError,
        LockTimeout,
        LockUnavailable,
        LoginRequired,
        MissingExtra,
        OutputError,
        RequestRejected,
        SecretStoreRefused,
        SecretStoreUnavailable,
        ServiceError,
        ServiceUnavailable,
        SpatiafiOpsError,
        UnexpectedResponse,
        UnknownClient,
        UnsafeValue,
        UnusableClient,
        UsageError,
    )
    from ._http import RetryPolicy
    from ._models import AccessToken, AppCredentials, ProvisionResult, UserLogin, Variable
    from .credentials._import import import_credentials
    from .credentials._sources import load_credentials
    from .rotation import (
        Policy,
        ProfileOutcome,
        RunContext,
        create_credentials,
        ensure_credentials,
        revoke_credentials,
        rotate_all_profiles,
        rotate_credentials,
    )
    from .tokens._consumer import get_session, get_token
    from .tokens._mint import mint_token

_EXPORTS = {
    "AccessToken": "_models",
    "AppCredentials": "_models",
    "ClockSkew": "_errors",
    "CredentialFileError": "_errors",
    "CredentialsExist": "_errors",
    "CredentialsRejected": "_errors",
    "DeadlineExceeded": "_errors",
    "InsecurePermissions": "_errors",
    "InsecureTransport": "_errors",
    "LocalStateError": "_errors",
    "LockTimeout": "_errors",
    "LockUnavailable": "_errors",
    "LoginRequired": "_errors",
    "MissingExtra": "_errors",
    "OutputError": "_errors",
    "Policy": "rotation",
    "ProfileOutcome": "rotation",
    "ProvisionResult": "_models",
    "RequestRejected": "_errors",
    "RetryPolicy": "_http",
    "RunContext": "rotation",
    "SecretStoreRefused": "_errors",
    "SecretStoreUnavailable": "_errors",
    "ServiceClock": "_clock",
    "ServiceError": "_errors",
    "ServiceUnavailable": "_errors",
    "Settings": "_config",
    "SpatiafiOpsError": "_errors",
    "UnexpectedResponse": "_errors",
    "UnknownClient": "_errors",
    "UnsafeValue": "_errors",
    "UnusableClient": "_errors",
    "UsageError": "_errors",
    "UserLogin": "_models",
    "Variable": "_models",
    "create_credentials": "rotation",
    "ensure_credentials": "rotation",
    "get_session": "tokens._consumer",
    "get_token": "tokens._consumer",
    "load_credentials": "credentials._sources",
    "import_credentials": "credentials._import",
    "mint_token": "tokens._mint",
    "parse_duration": "_durations",
    "revoke_credentials": "rotation",
    "rotate_all_profiles": "rotation",
    "rotate_credentials": "rotation",
}

__all__ = [
    "AccessToken",
    "AppCredentials",
    "ClockSkew",
    "CredentialFileError",
    "CredentialsExist",
    "CredentialsRejected",
    "DeadlineExceeded",
    "InsecurePermissions",
    "InsecureTransport",
    "LocalStateError",
    "LockTimeout",
    "LockUnavailable",
    "LoginRequired",
    "MissingExtra",
    "OutputError",
    "Policy",
    "ProfileOutcome",
    "ProvisionResult",
    "RequestRejected",
    "RetryPolicy",
    "RunContext",
    "SecretStoreRefused",
    "SecretStoreUnavailable",
    "ServiceClock",
    "ServiceError",
    "ServiceUnavailable",
    "Settings",
    "SpatiafiOpsError",
    "UnexpectedResponse",
    "UnknownClient",
    "UnsafeValue",
    "UnusableClient",
    "UsageError",
    "UserLogin",
    "Variable",
    "__version__",
    "create_credentials",
    "ensure_credentials",
    "get_session",
    "get_token",
    "import_credentials",
    "load_credentials",
    "mint_token",
    "parse_duration",
    "revoke_credentials",
    "rotate_all_profiles",
    "rotate_credentials",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spatiafi_ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
