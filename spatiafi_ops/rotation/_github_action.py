"""
actions/rotate's inputs, checked and turned into one rotation of a throwaway profile.

The composite action only maps its inputs to environment variables and runs
``spatiafi-ops github-action rotate``; what the inputs mean, which combinations are refused
and which sinks write-back adds are decided here, where a unit test reaches them without a
runner. The current credentials are taken out of the environment as they are read
(:func:`take_inputs`), so no sink or ``gh`` process the rotation starts inherits them.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from .._config import Settings
from .._durations import parse_duration
from .._errors import LocalStateError, UsageError
from ..credentials._import import import_credentials, parse_created_at
from ..sinks._publish import GitHubSink, Sink, parse_sink, parse_sinks
from ._context import DEFAULT_GRACE, Policy

# The variables that hold the current credentials: read once, then removed.
CREDENTIALS_JSON = "SPATIAFI_ACTION_CREDENTIALS_JSON"
CLIENT_ID = "SPATIAFI_CLIENT_ID"
CLIENT_SECRET = "SPATIAFI_CLIENT_SECRET"
# Where an input left empty may come from, and why it can be empty there.
SECRET_HINT = (
    "If it comes from a secret or variable, make sure it exists and is available to this "
    "workflow run (secrets are not passed to runs triggered from forks or by Dependabot)."
)
UNKNOWN_AGE = (
    "The 'created-at' input is empty, so the age of the credentials is unknown and they are "
    "rotated now. Pass credentials-json instead (the JSON secret that write-back stores "
    "carries created_at) so that later runs rotate only after max-age."
)
_LONG_AGO = "1970-01-01T00:00:00Z"


class ActionInputError(UsageError):
    """
    An input of the action is missing, malformed or contradicts another (exit 2).

    Its message is fixed text that names the input, never its value: a value could carry a
    workflow command or a secret.
    """


@dataclass(frozen=True)
class RotateInputs:
    """
    What actions/rotate was asked to do, checked.

    ``current`` is the JSON document ``credentials import`` reads (a secret); ``created_at``
    overrides its ``created_at`` when not ``None``; ``unknown_age``: the pair came without a
    created-at, so the credentials count as old (the caller warns).
    """

    current: bytes
    created_at: str | None
    unknown_age: bool
    policy: Policy

    def __repr__(self) -> str:  # the dataclass's own would show the secret
        return f"RotateInputs(created_at={self.created_at!r}, policy={self.policy!r})"


def _switch(environ: MutableMapping[str, str], name: str, input_name: str) -> bool:
    value = environ.get(name, "")
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    raise ActionInputError(f"The '{input_name}' input must be true or false.")


def write_back_sink(environ: MutableMapping[str, str]) -> Sink | None:
    """
    Return the GitHub sink the write-back inputs ask for, or ``None`` for ``none``.

    Raises:
        ActionInputError: an unknown write-back, or the token or environment it needs is empty.
        UsageError: the repository, environment or secret names are not valid GitHub names.
    """
    target = environ.get("SPATIAFI_ACTION_WRITE_BACK", "")
    if target == "none":
        return None
    if target not in ("repository", "environment"):
        raise ActionInputError("The 'write-back' input must be none, repository or environment.")
    if not environ.get("GH_TOKEN"):
        raise ActionInputError(f"The 'github-token' input is empty. {SECRET_HINT}")
    where = environ.get("SPATIAFI_ACTION_REPOSITORY", "")
    if target == "environment":
        environment = environ.get("SPATIAFI_ACTION_ENVIRONMENT", "")
        if not environment:
            raise ActionInputError("The 'environment' input is empty.")
        where += f"/environments/{environment}"
    options = {"secret": environ.get("SPATIAFI_ACTION_SECRET_NAME", "")}
    if environ.get("SPATIAFI_ACTION_PAIR_PREFIX"):
        options["pair"] = environ["SPATIAFI_ACTION_PAIR_PREFIX"]
    if any(ch in where + "".join(options.values()) for ch in "\r\n?&#=%"):
        raise ActionInputError(
            "The 'repository', 'environment', 'secret-name' and 'pair-prefix' inputs cannot "
            "hold a line break or any of ? & # = %."
        )
    # The sink grammar is parse_sink's: this spec is built for it, not parsed a second time.
    return parse_sink(f"github:{where}?{urlencode(options)}")


def _current_credentials(environ: MutableMapping[str, str]) -> tuple[bytes, bool]:
    """
    Take the current credentials out of *environ*; return the JSON import reads, and
    whether they came as the bare pair (no created_at of their own).
    """
    document = environ.pop(CREDENTIALS_JSON, "")
    client_id = environ.pop(CLIENT_ID, "")
    client_secret = environ.pop(CLIENT_SECRET, "")
    if document:
        if client_id or client_secret:
            raise ActionInputError(
                "Give either the 'credentials-json' input or 'client-id' and 'client-secret', "
                "not both."
            )
        return document.encode("utf-8"), False
    if not client_id:
        raise ActionInputError(
            "The 'client-id' input is empty (give client-id and client-secret, or "
            f"credentials-json). {SECRET_HINT}"
        )
    if not client_secret:
        raise ActionInputError(f"The 'client-secret' input is empty. {SECRET_HINT}")
    pair = {"client_id": client_id, "client_secret": client_secret}
    return json.dumps(pair).encode("utf-8"), True


def take_inputs(environ: MutableMapping[str, str], *, gh_found: bool) -> RotateInputs:
    """
    Read and check the action's inputs from *environ*, removing the current credentials.

    *gh_found*: whether a ``gh`` executable is on ``PATH`` (GitHub sinks need it). The
    checks run in the order a user fixes them: switches, write-back, then the credentials;
    all before any request, so a bad input changes nothing anywhere.

    Raises:
        ActionInputError: an input is missing, malformed or contradicts another.
        UsageError: a sink spec, a duration or a time is malformed.
        LocalStateError: a GitHub sink is asked for and ``gh`` is missing.
    """
    dry_run = _switch(environ, "SPATIAFI_ACTION_DRY_RUN", "dry-run")
    write_back = write_back_sink(environ)
    sinks = (
        *((write_back,) if write_back is not None else ()),
        *parse_sinks(environ.get("SPATIAFI_PUBLISH", "")),
    )
    if not gh_found and any(isinstance(sink, GitHubSink) for sink in sinks):
        raise LocalStateError(
            "Writing GitHub secrets needs the gh CLI on PATH (GitHub-hosted runners have it)."
        )
    revoke_old = _switch(environ, "SPATIAFI_ACTION_REVOKE_OLD", "revoke-old")
    if revoke_old and not sinks:
        raise ActionInputError(
            "revoke-old needs write-back or publish: without either the new secret exists only "
            "in this job's outputs. Store it first, then revoke the previous client with "
            "'spatiafi-ops credentials revoke'."
        )
    current, pair = _current_credentials(environ)
    created_at = environ.get("SPATIAFI_ACTION_CREATED_AT") or None
    try:
        max_age = parse_duration(environ.get("SPATIAFI_ACTION_MAX_AGE", ""))
    except ValueError as exc:
        raise UsageError(f"The 'max-age' input: {exc}") from None
    policy = Policy(
        max_age=max_age,
        # Revoked once every sink confirmed, or kept valid for the user to revoke.
        grace=0.0 if revoke_old else DEFAULT_GRACE,
        revoke_old=revoke_old,
        dry_run=dry_run,
        wait=0.0,
        publish=sinks,
    )
    unknown_age = pair and created_at is None
    return RotateInputs(
        current=current,
        created_at=_LONG_AGO if unknown_age else created_at,
        unknown_age=unknown_age,
        policy=policy,
    )


@contextlib.contextmanager
def throwaway_profile(settings: Settings, runner_temp: str) -> Iterator[Settings]:
    """
    Yield *settings* for a new, empty profile under *runner_temp*; remove it afterwards.

    Composite actions have no post step, so the profile goes when the block ends, however it
    ends ($RUNNER_TEMP is emptied after the job as well). Whatever the job's environment
    says, the run reads this profile only.

    Raises:
        LocalStateError: *runner_temp* is empty (not a job) or the directory cannot be made.
    """
    if not runner_temp:
        raise LocalStateError("RUNNER_TEMP is not set: the spatiafi-ops actions run only in a job.")
    parent = Path(runner_temp) / "spatiafi-ops"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="rotate.", dir=parent))  # 0700
    except OSError as exc:
        raise LocalStateError(f"cannot make a profile under {parent}: {exc.strerror}") from None
    try:
        yield settings._replace(
            config_dir=directory,
            cache_dir=directory / "cache",
            profile="default",
            credentials_from=None,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def import_current(profile: Settings, inputs: RotateInputs) -> None:
    """
    Store the current credentials in the throwaway *profile*, as ``credentials import -``.

    Raises:
        CredentialFileError: the credentials are not JSON credentials (exit 5).
        UsageError: ``created_at`` is not a time.
    """
    when = None
    if inputs.created_at is not None:
        try:
            when = parse_created_at(inputs.created_at)
        except ValueError as exc:
            raise UsageError(f"The 'created-at' input: {exc}") from None
    import_credentials(profile, io.BytesIO(inputs.current), created_at=when)
