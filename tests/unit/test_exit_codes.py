"""
The exit-code map follows the exception tree (README: Exit codes).
"""

from __future__ import annotations

import pytest

from spatiafi_ops import _errors
from spatiafi_ops.cli._exit import exit_code_for, exit_codes_help


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (_errors.CredentialsRejected("x"), 3),
        (_errors.ServiceUnavailable("x"), 4),
        (_errors.DeadlineExceeded("x"), 4),
        (_errors.UnexpectedResponse("x"), 4),
        (_errors.RequestRejected("x"), 4),
        (_errors.CredentialFileError("x"), 5),
        (_errors.InsecurePermissions("x"), 5),
        (_errors.LockTimeout("x"), 5),
        (_errors.CredentialsExist("x"), 5),
        (_errors.UnsafeValue("x", name="N"), 5),
        (_errors.OutputError("x"), 5),
        (RuntimeError("x"), 1),
    ],
)
def test_each_error_maps_to_its_documented_code(exc: BaseException, code: int) -> None:
    """Leaves inherit their layer's code; anything foreign is a bug (1)."""
    assert exit_code_for(exc) == code


def test_a_new_subclass_needs_no_edit() -> None:
    """Lookup walks the MRO, so a subclass defined later still maps."""

    class Custom(_errors.CredentialsRejected):
        pass

    assert exit_code_for(Custom("x")) == 3


def test_help_lists_every_code() -> None:
    """--help shows a table generated from the map, 0 through 5."""
    text = exit_codes_help()
    for code in range(6):
        assert f"  {code}  " in text
