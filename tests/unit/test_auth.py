"""
Which refusals of an assertion are about its times: the service's own words, parsed.
"""

from __future__ import annotations

import pytest

from spatiafi_ops._errors import CredentialsRejected
from spatiafi_ops.tokens._mint import rejected_for_time


@pytest.mark.parametrize(
    ("error", "detail", "for_time"),
    [
        ("invalid_client", "client_assertion iat is in the future", True),
        ("invalid_client", "client_assertion has expired", True),
        ("invalid_client", "The token is expired", True),
        ("invalid_client", "The token is not valid yet", True),
        ("invalid_client", "JWT not yet valid", True),
        ("invalid_client", "Invalid claim: 'exp'", True),
        ("invalid_client", "nbf check failed", True),
        ("invalid_client", "clock skew too large", True),
        ("invalid_client", "assertion issued in the future", True),
        ("invalid_client", "the client secret has expired", False),
        ("invalid_client", "password expired", False),
        ("invalid_client", "the client is unknown or revoked", False),
        ("invalid_client", "signature mismatch", False),
        ("invalid_client", "experimental client", False),
        ("invalid_client", None, False),
        ("LOGIN_BAD_CREDENTIALS", "LOGIN_BAD_CREDENTIALS", False),
        (None, None, False),
    ],
)
def test_a_refusal_is_for_time_when_the_service_says_so(
    error: str | None, detail: str | None, for_time: bool
) -> None:
    """Claim names, 'not yet valid', 'in the future', 'clock', or 'expired' next to
    assertion, jwt or token: yes. An expired secret or password: no."""
    exc = CredentialsRejected("refused", error=error, detail=detail)
    assert rejected_for_time(exc) is for_time
