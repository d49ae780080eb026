"""
One AWS Secrets Manager secret as versions and staging labels: read, write, move a label.

Versions are immutable (PutSecretValue with a ClientRequestToken already used is a no-op),
so each is read once; labels are the mutable part, and ``move_label`` with the version a
label is expected on is Secrets Manager's compare-and-swap (UpdateSecretVersionStage in the
AWS Secrets Manager API reference). Calls go through ``_aws``'s client and its translation
of botocore's errors into the package's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

from .._aws import _client, _error_code, _is_arn, _translated
from .._errors import CredentialFileError, SecretStoreRefused
from .._models import AppCredentials
from ..credentials._credfile import credentials_from_json

PREFIX = "aws-secretsmanager:"
CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
# Our own label: a create request in flight (its journal; no credentials).
PLANNED = "SPATIAFI_PLANNED"
# A secret value is at most 64 KiB (Secrets Manager quotas); ours are far smaller.
MAX_VALUE = 65536


class _Client(Protocol):
    """
    The calls the store makes, of botocore's ``secretsmanager`` client (botocore is untyped).
    """

    def describe_secret(self, *, SecretId: str) -> dict[str, Any]: ...

    def get_secret_value(self, **kwargs: str) -> dict[str, Any]: ...

    def put_secret_value(self, **kwargs: Any) -> dict[str, Any]: ...

    def create_secret(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_secret_version_stage(self, **kwargs: str) -> dict[str, Any]: ...


class Labels(NamedTuple):
    """
    Which version carries which label, as DescribeSecret answered.
    """

    stages: dict[str, list[str]]
    rotation_enabled: bool

    def holder(self, label: str) -> str | None:
        return next((vid for vid, labels in self.stages.items() if label in labels), None)


class Version(NamedTuple):
    """
    One version's document: credentials (none in a planned create) and its change.
    """

    version_id: str
    credentials: AppCredentials | None
    change: dict[str, Any]


class SecretVersions:
    """
    The versions and labels of one secret, each version read at most once.
    """

    def __init__(self, secret_id: str, *, budget: float, allow_cleartext: bool) -> None:
        self.secret_id = secret_id
        # Every call of the run, retries included, ends within the budget (``_aws``).
        self.budget = budget
        self.allow_cleartext = allow_cleartext
        self._aws: _Client | None = None
        self.written: set[str] = set()
        self._versions: dict[str, Version | None] = {}

    @property
    def target(self) -> str:
        return f"{PREFIX}{self.secret_id}"

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        with _translated(self.target):
            return self._call_raw(operation, **params)

    def labels(self) -> Labels | None:
        """
        Return the secret's labels, or ``None`` when there is no such secret.
        """
        from botocore.exceptions import ClientError

        with _translated(self.target):
            try:
                answer = self._call_raw("describe_secret")
            except ClientError as exc:
                if _error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        stages = answer.get("VersionIdsToStages") or {}
        if not isinstance(stages, dict):
            stages = {}
        return Labels(
            {str(k): [str(s) for s in v] for k, v in stages.items() if isinstance(v, list)},
            bool(answer.get("RotationEnabled")),
        )

    def _call_raw(self, operation: str, **params: Any) -> dict[str, Any]:
        """
        Make one call, botocore's exceptions untranslated (the caller decides by code).
        """
        if self._aws is None:
            self._aws = cast(
                _Client,
                _client(
                    self.target,
                    self.secret_id,
                    budget=self.budget,
                    allow_cleartext=self.allow_cleartext,
                ),
            )
        answer: dict[str, Any] = getattr(self._aws, operation)(SecretId=self.secret_id, **params)
        return answer

    def current_text(self) -> str:
        """
        Return the text of AWSCURRENT ("" when it holds none).
        """
        answer = self._call("get_secret_value", VersionStage=CURRENT)
        text = answer.get("SecretString")
        return text if isinstance(text, str) and len(text) <= MAX_VALUE else ""

    def version(self, version_id: str) -> Version | None:
        """
        Return a version's document, ``None`` when it has no value (RotateSecret's placeholder).

        Raises:
            CredentialFileError: for a value that is not ours (not our JSON document).
        """
        from botocore.exceptions import ClientError

        if version_id in self._versions:
            return self._versions[version_id]
        with _translated(self.target):
            try:
                answer = self._call_raw("get_secret_value", VersionId=version_id)
            except ClientError as exc:
                if _error_code(exc) in ("ResourceNotFoundException", "SecretHasNoValueException"):
                    return None  # a placeholder may get its value yet: not remembered
                raise
        found = self._parse(version_id, answer.get("SecretString"))
        self._versions[version_id] = found
        return found

    def _parse(self, version_id: str, text: object) -> Version:
        where = f"{self.target} (version {version_id})"
        try:
            if not isinstance(text, str) or len(text) > MAX_VALUE:
                raise ValueError("not a string of at most 64 KiB")
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            change = data.get("rotation") or {}
            if not isinstance(change, dict):
                raise ValueError("rotation is not an object")
        except (ValueError, RecursionError):
            raise CredentialFileError(
                f"{where} does not hold the credentials JSON; put the credentials there "
                "(credentials import, or --publish) or give another secret",
                path=self.target,
            ) from None
        credentials = None
        if "client_id" in data:
            credentials = credentials_from_json(data, Path(where))
        return Version(version_id, credentials, change)

    def put(self, version_id: str, document: dict[str, Any], label: str) -> None:
        """
        Write a new version labelled *label* (a retry with the same id is a no-op);
        create the secret when there is none.
        """
        from botocore.exceptions import ClientError

        if version_id in self.written:
            return
        text = json.dumps(document, separators=(",", ":"))
        with _translated(self.target):
            try:
                self._call_raw(
                    "put_secret_value",
                    SecretString=text,
                    ClientRequestToken=version_id,
                    VersionStages=[label],
                )
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                if _is_arn(self.secret_id):
                    raise SecretStoreRefused(
                        f"{self.target}: no such secret; create it first (an ARN cannot name "
                        "a new secret), or give a name",
                        target=self.target,
                    ) from None
                assert self._aws is not None
                self._aws.create_secret(
                    Name=self.secret_id,
                    SecretString=text,
                    ClientRequestToken=version_id,
                    Description="SpatiaFi app credentials and their rotation (spatiafi-ops)",
                )
                if label != CURRENT:
                    self._call_raw(
                        "update_secret_version_stage",
                        VersionStage=label,
                        MoveToVersionId=version_id,
                    )
        self.written.add(version_id)

    def move_label(self, label: str, *, to: str | None, away_from: str | None) -> bool:
        """
        Move *label* to version *to* (or off *away_from* alone), only while it is on
        *away_from*: the compare-and-swap. Return whether it moved (or already was there).
        """
        params = {"VersionStage": label}
        if to is not None:
            params["MoveToVersionId"] = to
        if away_from is not None:
            params["RemoveFromVersionId"] = away_from
        try:
            self._call("update_secret_version_stage", **params)
        except SecretStoreRefused:
            labels = self.labels()
            holder = labels.holder(label) if labels is not None else None
            return holder == to  # a retry whose first answer was lost, or another's move
        return True
