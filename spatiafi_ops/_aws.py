"""
AWS Secrets Manager as a sink and a source (extra ``spatiafi-ops[aws]``: boto3).

The one module that imports boto3, and only when an ``aws-secretsmanager:`` spec is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._config import Settings
from ._errors import MissingExtra
from ._models import AppCredentials
from ._publish import Payload


def _require_boto3() -> None:
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise MissingExtra(
            "aws-secretsmanager: needs boto3; install the extra: pip install 'spatiafi-ops[aws]'"
        ) from None


@dataclass(frozen=True)
class SecretsManagerSink:
    """
    ``aws-secretsmanager:SECRET-ID``: publishes the credentials JSON as a new version.
    """

    secret_id: str

    def __post_init__(self) -> None:
        _require_boto3()

    @property
    def target(self) -> str:
        return f"aws-secretsmanager:{self.secret_id}"

    def publish(self, payload: Payload, *, timeout: float) -> None:
        raise NotImplementedError  # the aws developer's, in progress


@dataclass(frozen=True)
class SecretsManagerSource:
    """
    ``aws-secretsmanager:SECRET-ID``: reads the AWSCURRENT version.
    """

    secret_id: str

    def __post_init__(self) -> None:
        _require_boto3()

    @property
    def target(self) -> str:
        return f"aws-secretsmanager:{self.secret_id}"

    def load(self, settings: Settings) -> AppCredentials:
        raise NotImplementedError  # the aws developer's, in progress
