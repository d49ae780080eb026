"""
AWS Secrets Manager as a sink and a source (extra ``spatiafi-ops[aws]``).

The one module that talks to AWS, imported only when an ``aws-secretsmanager:`` spec is
used. It drives botocore's session directly: boto3 (what the extra installs) is a layer
over it whose import only adds time (benchmarks/bench_aws.py). Region, profile,
credentials and endpoint (``AWS_ENDPOINT_URL``) come from the usual AWS configuration
(docs/many-machines.md).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._config import Settings
from ._errors import (
    CredentialFileError,
    DeadlineExceeded,
    InsecureTransport,
    MissingExtra,
    SecretStoreRefused,
    SecretStoreUnavailable,
    UnexpectedResponse,
)
from ._models import AppCredentials, Payload
from ._redaction import printable
from .credentials._credfile import credentials_from_json, parse_state_json

# Calls per operation, the first included (botocore's "standard" retry mode: exponential
# backoff with jitter, transient errors and throttling only).
ATTEMPTS = 3
CURRENT = "AWSCURRENT"
_VERSION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "aws-secretsmanager.spatiafi-ops")
# Error codes that mean "try again later": those botocore's standard retry mode retries
# (botocore/retries/standard.py, minus LimitExceededException, a quota in Secrets
# Manager) and Secrets Manager's own InternalServiceError.
_TRANSIENT_CODES = frozenset(
    {
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
        "InternalFailure",
        "InternalServiceError",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "TransactionInProgressException",
    }
)
_CREDENTIALS_HINT = "check the AWS credentials (expired, revoked, or for another account)"
_KMS_HINT = "check the secret's KMS key and the caller's kms:Decrypt/kms:GenerateDataKey"
_HINTS = {
    "AccessDeniedException": "grant the caller secretsmanager:{operation} on the secret",
    "DecryptionFailure": _KMS_HINT,
    "EncryptionFailure": _KMS_HINT,
    "ExpiredTokenException": _CREDENTIALS_HINT,
    "InvalidClientTokenId": _CREDENTIALS_HINT,
    "InvalidSignatureException": _CREDENTIALS_HINT,
    "InvalidRequestException": "the secret may be scheduled for deletion: restore it",
    "LimitExceededException": "a Secrets Manager quota is reached",
    "UnrecognizedClientException": _CREDENTIALS_HINT,
}


class _SecretsManagerClient(Protocol):
    """
    The calls made here, of botocore's ``secretsmanager`` client (botocore is untyped).
    """

    def get_secret_value(self, *, SecretId: str, VersionStage: str) -> dict[str, Any]: ...

    def put_secret_value(
        self, *, SecretId: str, SecretString: str, ClientRequestToken: str
    ) -> dict[str, Any]: ...

    def create_secret(
        self, *, Name: str, SecretString: str, ClientRequestToken: str, Description: str
    ) -> dict[str, Any]: ...


def _require_botocore() -> None:
    try:
        import botocore  # noqa: F401
    except ImportError:
        raise MissingExtra(
            "aws-secretsmanager: needs boto3; install the extra spatiafi-ops[aws] (or boto3)"
        ) from None


def _is_arn(secret_id: str) -> bool:
    # Secret names cannot hold a colon; ARNs do: arn:PARTITION:secretsmanager:REGION:...
    return secret_id.startswith("arn:")


def _region_of(secret_id: str) -> str | None:
    """
    Return the region an ARN names (where the secret is), else None: the configured one.
    """
    parts = secret_id.split(":", 4)
    if _is_arn(secret_id) and len(parts) == 5 and parts[2] == "secretsmanager" and parts[3]:
        return parts[3]
    return None


def _client(
    target: str, secret_id: str, *, budget: float, allow_cleartext: bool
) -> _SecretsManagerClient:
    """
    Return a client set up from the AWS configuration whose calls, retries included, end
    within *budget* seconds from now (``_aws_http``).
    """
    import botocore.session
    from botocore.config import Config

    from ._aws_http import BoundedSession  # lazy: it imports botocore, known present now

    deadline = time.monotonic() + budget
    per_attempt = max(0.1, budget / ATTEMPTS)
    config = Config(
        connect_timeout=per_attempt,
        read_timeout=per_attempt,
        # total_max_attempts counts the first call; botocore's max_attempts would not.
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
    )
    session = botocore.session.get_session()
    with _translated(target):
        client: Any = session.create_client(
            "secretsmanager", region_name=_region_of(secret_id), config=config
        )
        http = BoundedSession(
            deadline=deadline,
            allow_cleartext=allow_cleartext,
            verify=session.get_config_variable("ca_bundle") or True,  # AWS_CA_BUNDLE
            proxies=config.proxies,
            proxies_config=config.proxies_config,
            timeout=(per_attempt, per_attempt),
        )
    client.meta.events.register("before-send.secrets-manager", http.on_before_send)
    bounded: _SecretsManagerClient = client
    return bounded


def _error_code(exc: Any) -> str:
    """
    Return the AWS error code of botocore's ``ClientError`` *exc* ("" if it has none).
    """
    return str(exc.response.get("Error", {}).get("Code", ""))


def _client_error(target: str, exc: Any) -> SecretStoreRefused | SecretStoreUnavailable:
    """
    Return the package's error for an error answer of AWS, by its code and HTTP status.
    """
    code = _error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    operation = str(exc.operation_name)
    if code in _TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
        return SecretStoreUnavailable(
            f"AWS Secrets Manager failed {operation} on {target} ({code or status}); "
            "try again later",
            target=target,
        )
    text = printable(str(exc.response.get("Error", {}).get("Message", "")), limit=300)
    hint = _HINTS.get(code, "see the error code in the AWS Secrets Manager API reference")
    return SecretStoreRefused(
        f"AWS Secrets Manager refused {operation} on {target} ({code or status}: {text}); "
        + hint.format(operation=operation),
        target=target,
    )


@contextlib.contextmanager
def _translated(target: str) -> Iterator[None]:
    """
    Turn botocore's exceptions raised inside the block into the package's, by their type:
    unreachable or overloaded is ``SecretStoreUnavailable``, everything else (refused,
    no credentials, no region, a broken profile) ``SecretStoreRefused``.
    """
    from botocore import exceptions as aws

    try:
        yield
    except aws.ClientError as exc:
        raise _client_error(target, exc) from None
    except DeadlineExceeded:
        raise SecretStoreUnavailable(
            f"AWS Secrets Manager did not answer for {target} within the deadline; "
            "try again later, or give it more time with --deadline",
            target=target,
        ) from None
    except UnexpectedResponse as exc:
        raise SecretStoreUnavailable(
            f"AWS Secrets Manager answered nonsense for {target} ({exc}); try again later",
            target=target,
        ) from None
    except aws.SSLError:
        raise SecretStoreUnavailable(
            f"TLS with AWS Secrets Manager failed for {target}; check the endpoint "
            "(AWS_ENDPOINT_URL), or the CA bundle (AWS_CA_BUNDLE) if a proxy re-signs traffic",
            target=target,
        ) from None
    except (aws.ConnectionError, aws.HTTPClientError) as exc:
        # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError;
        # ReadTimeoutError, ConnectionClosedError, ResponseStreamingError.
        raise SecretStoreUnavailable(
            f"could not reach AWS Secrets Manager for {target} ({type(exc).__name__}); "
            "try again later",
            target=target,
        ) from None
    except aws.NoRegionError:
        raise SecretStoreRefused(
            f"{target}: no AWS region is configured; set AWS_DEFAULT_REGION, a region in "
            "the AWS profile, or give the secret's full ARN",
            target=target,
        ) from None
    except (aws.NoCredentialsError, aws.PartialCredentialsError):
        raise SecretStoreRefused(
            f"{target}: no usable AWS credentials; configure them (AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance or task role)",
            target=target,
        ) from None
    except aws.ProfileNotFound as exc:
        raise SecretStoreRefused(
            f"{target}: the AWS profile {exc.kwargs.get('profile')!r} is not in the AWS "
            "configuration; set AWS_PROFILE to one that is, or unset it",
            target=target,
        ) from None
    except aws.BotoCoreError as exc:
        # ConfigParseError, CredentialRetrievalError, an expired SSO
        # token, ParamValidationError...: the local AWS set-up needs fixing.
        raise SecretStoreRefused(
            f"{target}: the AWS configuration is unusable ({type(exc).__name__}); check "
            "the AWS profile, its credentials and region",
            target=target,
        ) from None


@contextlib.contextmanager
def _cleartext_refused(target: str) -> Iterator[None]:
    """
    Turn a refusal to publish in cleartext into the sink's refusal (exit 5): the rotation
    keeps the previous client, and a run with the endpoint fixed publishes.
    """
    try:
        yield
    except InsecureTransport as exc:
        raise SecretStoreRefused(f"{target}: {exc}", target=target) from None


def version_id(payload: Payload) -> str:
    """
    Return the version id (ClientRequestToken) that publishing *payload* creates.

    The same for a rerun that publishes the same credentials, which AWS then ignores; made
    of the public fields only, never the secret.
    """
    public = {key: value for key, value in payload.to_json().items() if key != "client_secret"}
    return str(uuid.uuid5(_VERSION_NAMESPACE, json.dumps(public, sort_keys=True)))


@dataclass(frozen=True)
class SecretsManagerSink:
    """
    ``aws-secretsmanager:SECRET-ID``: publishes the credentials JSON as a new version,
    which becomes AWSCURRENT (the one it replaces AWSPREVIOUS); creates the secret if a
    name is given and there is none.
    """

    secret_id: str
    allow_insecure_transport: bool = False

    def __post_init__(self) -> None:
        _require_botocore()

    @property
    def target(self) -> str:
        return f"aws-secretsmanager:{self.secret_id}"

    def publish(self, payload: Payload, *, timeout: float) -> None:
        from botocore.exceptions import ClientError

        client = _client(
            self.target,
            self.secret_id,
            budget=timeout,
            allow_cleartext=self.allow_insecure_transport,
        )
        value = json.dumps(payload.to_json())
        token = version_id(payload)
        with _translated(self.target), _cleartext_refused(self.target):
            try:
                # Without VersionStages, the new version gets AWSCURRENT.
                answer = client.put_secret_value(
                    SecretId=self.secret_id, SecretString=value, ClientRequestToken=token
                )
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                answer = self._create(client, value, token)
        self._confirm(answer, token)

    def _confirm(self, answer: dict[str, Any], token: str) -> None:
        """
        Accept a write only when AWS's answer names our version of this secret: an HTTP
        200 from something else (a TLS-intercepting proxy, a captive portal) is no write.

        Raises:
            SecretStoreUnavailable: for any other answer (exit 4; a later run publishes).
        """
        arn = answer.get("ARN")
        if answer.get("VersionId") == token and isinstance(arn, str) and self._names(arn):
            return
        raise SecretStoreUnavailable(
            f"the answer to the write of {self.target} does not confirm it (no version "
            f"{token} of that secret in it; a proxy or captive portal may have answered); "
            "a later run publishes again",
            target=self.target,
        )

    def _names(self, arn: str) -> bool:
        """
        Return whether *arn* is this sink's secret (AWS appends "-" and 6 characters to
        the name in an ARN; a partial ARN given as the id lacks them).
        """
        if _is_arn(self.secret_id):
            return arn == self.secret_id or arn.startswith(self.secret_id + "-")
        _, sep, name = arn.partition(":secret:")
        return bool(sep) and arn.startswith("arn:") and name[:-7] == self.secret_id

    def _create(self, client: _SecretsManagerClient, value: str, token: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if _is_arn(self.secret_id):
            raise SecretStoreRefused(
                f"{self.target}: no such secret; create it first (an ARN cannot name a "
                "new secret), or give a name",
                target=self.target,
            )
        try:
            return client.create_secret(
                Name=self.secret_id,
                SecretString=value,
                ClientRequestToken=token,
                Description="SpatiaFi app credentials, published by spatiafi-ops",
            )
        except ClientError as exc:
            if _error_code(exc) != "ResourceExistsException":
                raise
            # Created meanwhile by another publisher: add our version to it.
            return client.put_secret_value(
                SecretId=self.secret_id, SecretString=value, ClientRequestToken=token
            )


@dataclass(frozen=True)
class SecretsManagerSource:
    """
    ``aws-secretsmanager:SECRET-ID``: reads the AWSCURRENT version, one call per load.
    """

    secret_id: str

    def __post_init__(self) -> None:
        _require_botocore()

    @property
    def target(self) -> str:
        return f"aws-secretsmanager:{self.secret_id}"

    def load(self, settings: Settings) -> AppCredentials:
        from botocore.exceptions import ClientError

        client = _client(
            self.target,
            self.secret_id,
            budget=settings.deadline,
            allow_cleartext=settings.allow_insecure_transport,
        )
        with _translated(self.target):
            try:
                answer = client.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                raise SecretStoreRefused(
                    f"{self.target}: no such secret, or it has no {CURRENT} version; "
                    f"publish credentials to it (--publish {self.target})",
                    target=self.target,
                ) from None
        text = answer.get("SecretString") if isinstance(answer, dict) else None
        advice = f"publish credentials to it (--publish {self.target})"
        if not isinstance(text, str):
            raise CredentialFileError(
                f"{self.target} does not hold the credentials JSON; {advice}", path=self.target
            )
        # The state files' strict parser: no NaN or Infinity, bounded nesting.
        raw = text.encode("utf-8", "surrogateescape")
        data = parse_state_json(raw, Path(self.target), advice=advice)
        return credentials_from_json(data, Path(self.target))
