"""
Which variables are emitted: the names of README's Output formats, --prefix, secrecy,
GitHub names, public API.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

from spatiafi_ops import emit
from spatiafi_ops._models import AccessToken, AppCredentials, Variable
from spatiafi_ops.emit import build_variables, check_prefix, github_output_name

CREDENTIALS = AppCredentials("client-0001", "s3cr3t-Value-0123456789")
TOKEN = AccessToken("eyJ.token", "bearer", 1_700_000_123.999)


def test_credentials_and_token_give_spec_names_and_secrecy() -> None:
    """
    The client secret and token are secret; id, expiry (integer epoch) and type are not.
    """
    assert build_variables(CREDENTIALS, TOKEN) == (
        Variable("SPATIAFI_CLIENT_ID", "client-0001", secret=False),
        Variable("SPATIAFI_CLIENT_SECRET", "s3cr3t-Value-0123456789", secret=True),
        Variable("SPATIAFI_ACCESS_TOKEN", "eyJ.token", secret=True),
        Variable("SPATIAFI_TOKEN_EXPIRES_AT", "1700000123", secret=False),
        Variable("SPATIAFI_TOKEN_TYPE", "bearer", secret=False),
    )


def test_token_only_and_credentials_only() -> None:
    """
    `token --format` emits the token variables; `emit` without --with-token the credentials.
    """
    assert [v.name for v in build_variables(token=TOKEN)] == [
        "SPATIAFI_ACCESS_TOKEN",
        "SPATIAFI_TOKEN_EXPIRES_AT",
        "SPATIAFI_TOKEN_TYPE",
    ]
    assert [v.name for v in build_variables(CREDENTIALS)] == [
        "SPATIAFI_CLIENT_ID",
        "SPATIAFI_CLIENT_SECRET",
    ]
    assert build_variables() == ()


@pytest.mark.parametrize(
    ("prefix", "name"),
    [("", "CLIENT_ID"), ("MY_", "MY_CLIENT_ID"), ("_", "_CLIENT_ID"), ("X1", "X1CLIENT_ID")],
)
def test_prefix_replaces_spatiafi(prefix: str, name: str) -> None:
    """
    --prefix replaces SPATIAFI_ verbatim.
    """
    assert build_variables(CREDENTIALS, prefix=prefix)[0].name == name


@pytest.mark.parametrize("prefix", ["1X_", "MY-", "MY ", "É_", "A\n", "$X", "A=B"])
def test_bad_prefix_is_a_value_error(prefix: str) -> None:
    """
    A prefix that cannot start a variable name is refused with a usable sentence.
    """
    with pytest.raises(ValueError, match="not a usable prefix"):
        check_prefix(prefix)
    with pytest.raises(ValueError, match="not a usable prefix"):
        build_variables(CREDENTIALS, prefix=prefix)


@pytest.mark.parametrize(
    ("name", "output"),
    [
        ("SPATIAFI_CLIENT_ID", "client-id"),
        ("SPATIAFI_CLIENT_SECRET", "client-secret"),
        ("SPATIAFI_ACCESS_TOKEN", "access-token"),
        ("SPATIAFI_TOKEN_EXPIRES_AT", "expires-at"),
        ("SPATIAFI_TOKEN_TYPE", "token-type"),
        ("MY_TOKEN_EXPIRES_AT", "expires-at"),
        ("CLIENT_ID", "client-id"),
        ("DB_PASSWORD", "db-password"),
    ],
)
def test_github_output_names_are_kebab_case(name: str, output: str) -> None:
    """
    README: Output formats's output names whatever the prefix; other names lower-kebab-cased.
    """
    assert github_output_name(name) == output


def test_all_lists_exactly_the_public_names() -> None:
    """
    __all__ names every public attribute of spatiafi_ops.emit, and nothing else.
    """
    for name in emit.__all__:
        getattr(emit, name)  # names load lazily: resolve them all first
    imported_helpers = {"annotations", "Any", "TYPE_CHECKING"}
    public = {
        name
        for name, value in vars(emit).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public - imported_helpers == set(emit.__all__)


def test_import_stays_light() -> None:
    """
    Importing emit (the token fast path) loads no network, logging or json machinery.
    """
    code = (
        "import sys, spatiafi_ops.emit\n"
        "heavy = {'requests', 'authlib', 'tenacity', 'structlog', 'click', 'json', 'uuid'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
