"""
actions/rotate's glue in Python (spatiafi_ops.rotation._github_action): its inputs checked,
write-back turned into a sink, the current credentials consumed; no runner imitation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops._config import Settings
from spatiafi_ops._errors import LocalStateError, UsageError
from spatiafi_ops.cli._exit import exit_code_for
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from spatiafi_ops.rotation import DEFAULT_GRACE
from spatiafi_ops.rotation._github_action import (
    ActionInputError,
    RotateInputs,
    take_inputs,
    throwaway_profile,
)
from spatiafi_ops.sinks._publish import CommandSink, GitHubSink

CLIENT_ID = "0b6c1f0e-3c1a-4d5e-9f00-aaaaaaaaaaaa"
SECRET = "current-secret-value"
GH_TOKEN = "github_pat_11TESTTOKEN0123456789"


def _environ(**inputs: str) -> dict[str, str]:
    """The step's env: the action's defaults, then *inputs* by their variable names."""
    return {
        "SPATIAFI_ACTION_CREDENTIALS_JSON": "",
        "SPATIAFI_CLIENT_ID": CLIENT_ID,
        "SPATIAFI_CLIENT_SECRET": SECRET,
        "SPATIAFI_ACTION_CREATED_AT": "",
        "SPATIAFI_ACTION_MAX_AGE": "30d",
        "SPATIAFI_ACTION_DRY_RUN": "false",
        "SPATIAFI_ACTION_WRITE_BACK": "none",
        "SPATIAFI_ACTION_ENVIRONMENT": "",
        "SPATIAFI_ACTION_REPOSITORY": "octo-org/octo-repo",
        "GH_TOKEN": "",
        "SPATIAFI_ACTION_SECRET_NAME": "SPATIAFI_APP_CREDENTIALS",
        "SPATIAFI_ACTION_PAIR_PREFIX": "",
        "SPATIAFI_PUBLISH": "",
        "SPATIAFI_ACTION_REVOKE_OLD": "false",
        **inputs,
    }


def _take(environ: dict[str, str], *, gh_found: bool = True) -> RotateInputs:
    return take_inputs(environ, gh_found=gh_found)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"SPATIAFI_ACTION_REVOKE_OLD": "true"}, "revoke-old needs write-back or publish"),
        ({"SPATIAFI_ACTION_WRITE_BACK": "organization"}, "must be none, repository or"),
        ({"SPATIAFI_ACTION_WRITE_BACK": "50%0A\n::warning::x"}, "must be none, repository or"),
        ({"SPATIAFI_ACTION_DRY_RUN": "yes"}, "The 'dry-run' input must be true or false."),
        ({"SPATIAFI_ACTION_REVOKE_OLD": "1"}, "The 'revoke-old' input must be true or false."),
        ({"SPATIAFI_ACTION_WRITE_BACK": "repository"}, "The 'github-token' input is empty"),
        (
            {"SPATIAFI_ACTION_WRITE_BACK": "environment", "GH_TOKEN": GH_TOKEN},
            "The 'environment' input is empty",
        ),
        (
            {
                "SPATIAFI_ACTION_WRITE_BACK": "environment",
                "GH_TOKEN": GH_TOKEN,
                "SPATIAFI_ACTION_ENVIRONMENT": "prod\ncommand:touch pwned",
            },
            "cannot hold a line break",
        ),
        (
            {
                "SPATIAFI_ACTION_WRITE_BACK": "repository",
                "GH_TOKEN": GH_TOKEN,
                "SPATIAFI_ACTION_SECRET_NAME": "X&pair=EVIL_",
            },
            "cannot hold a line break or any of",
        ),
        ({"SPATIAFI_CLIENT_ID": ""}, "The 'client-id' input is empty"),
        ({"SPATIAFI_CLIENT_SECRET": ""}, "The 'client-secret' input is empty"),
        ({"SPATIAFI_ACTION_CREDENTIALS_JSON": "{}"}, "not both"),
    ],
)
def test_a_bad_input_is_one_fixed_sentence_and_exit_2(
    inputs: dict[str, str], expected: str
) -> None:
    """
    What only the action knows is refused by type (exit 2) with a sentence naming the input,
    never echoing its value (which could hold a workflow command or a secret).
    """
    environ = _environ(**inputs)
    with pytest.raises(ActionInputError) as raised:
        _take(environ)

    message = str(raised.value)
    assert expected in message
    assert exit_code_for(raised.value) == 2
    for fragment in ("\n", "%0A", "::", "pwned", "EVIL_", GH_TOKEN, SECRET):
        assert fragment not in message


@pytest.mark.parametrize(
    ("inputs", "exit_code"),
    [
        ({"SPATIAFI_ACTION_MAX_AGE": "soon"}, 2),
        (
            {
                "SPATIAFI_ACTION_WRITE_BACK": "repository",
                "GH_TOKEN": GH_TOKEN,
                "SPATIAFI_ACTION_REPOSITORY": "no-slash",
            },
            2,
        ),
        ({"SPATIAFI_PUBLISH": "nonsense"}, 2),
        ({"SPATIAFI_PUBLISH": "github:octo-org/consumer"}, 5),  # gh is missing
    ],
    ids=["max-age", "repository", "publish", "no-gh"],
)
def test_values_the_library_checks_fail_with_their_exit_code(
    inputs: dict[str, str], exit_code: int
) -> None:
    """
    Durations and sinks go through the package's own parsers; a GitHub sink without gh on
    PATH is local state (exit 5), found before any client is created.
    """
    with pytest.raises((UsageError, LocalStateError)) as raised:
        _take(_environ(**inputs), gh_found=False)
    assert exit_code_for(raised.value) == exit_code


def test_write_back_comes_first_then_each_publish_line() -> None:
    """
    write-back: environment is one GitHub sink with its secret and pair options; publish adds
    its sinks after it, blank lines skipped.
    """
    inputs = _take(
        _environ(
            SPATIAFI_ACTION_WRITE_BACK="environment",
            SPATIAFI_ACTION_ENVIRONMENT="production",
            GH_TOKEN=GH_TOKEN,
            SPATIAFI_ACTION_SECRET_NAME="ACME_SPATIAFI",
            SPATIAFI_ACTION_PAIR_PREFIX="SPATIAFI_",
            SPATIAFI_PUBLISH="command:cat > vault.json\n\ngithub:octo-org/consumer\n",
            SPATIAFI_ACTION_REVOKE_OLD="true",
        )
    )

    write_back, command, consumer = inputs.policy.publish
    assert isinstance(write_back, GitHubSink)
    assert write_back.target == (
        "github:octo-org/octo-repo/environments/production?secret=ACME_SPATIAFI&pair=SPATIAFI_"
    )
    assert write_back.scope == ("--repo", "octo-org/octo-repo", "--env", "production")
    assert (write_back.secret, write_back.pair_prefix) == ("ACME_SPATIAFI", "SPATIAFI_")
    assert isinstance(command, CommandSink)
    assert isinstance(consumer, GitHubSink)
    assert consumer.scope == ("--repo", "octo-org/consumer")
    assert (inputs.policy.revoke_old, inputs.policy.grace) == (True, 0.0)


def test_keeping_the_old_client_and_a_dry_run() -> None:
    """
    revoke-old false keeps the replaced client (listed for a manual revocation); dry-run
    plans only; max-age is parsed as the CLI parses it.
    """
    inputs = _take(_environ(SPATIAFI_ACTION_DRY_RUN="True", SPATIAFI_ACTION_MAX_AGE="12h"))

    assert inputs.policy.revoke_old is False
    assert inputs.policy.grace == DEFAULT_GRACE
    assert inputs.policy.dry_run is True
    assert inputs.policy.max_age == 12 * 3600
    assert inputs.policy.publish == ()


def test_the_current_credentials_are_consumed_from_the_environment() -> None:
    """
    The JSON secret and the pair leave the environment as they are read: nothing the run
    starts later (sinks, gh) can inherit them; the secret is in no repr.
    """
    document = json.dumps(
        {"client_id": CLIENT_ID, "client_secret": SECRET, "created_at": "2026-01-01T00:00:00Z"}
    )
    environ = _environ(
        SPATIAFI_ACTION_CREDENTIALS_JSON=document, SPATIAFI_CLIENT_ID="", SPATIAFI_CLIENT_SECRET=""
    )
    inputs = _take(environ)

    assert inputs.current == document.encode()
    assert inputs.created_at is None  # the document's own created_at counts
    assert inputs.unknown_age is False
    for name in (
        "SPATIAFI_ACTION_CREDENTIALS_JSON",
        "SPATIAFI_CLIENT_ID",
        "SPATIAFI_CLIENT_SECRET",
    ):
        assert name not in environ
    assert SECRET not in repr(inputs)

    pair = _environ()
    from_pair = _take(pair)
    assert json.loads(from_pair.current) == {"client_id": CLIENT_ID, "client_secret": SECRET}
    assert "SPATIAFI_CLIENT_SECRET" not in pair


def test_a_pair_without_created_at_counts_as_old() -> None:
    """
    The pair carries no age: without created-at it is rotated now (the caller warns); a
    given created-at is used, and overrides the JSON secret's own.
    """
    unknown = _take(_environ())
    assert unknown.unknown_age is True
    assert unknown.created_at == "1970-01-01T00:00:00Z"

    given = _take(_environ(SPATIAFI_ACTION_CREATED_AT="2026-11-01T00:00:00Z"))
    assert (given.unknown_age, given.created_at) == (False, "2026-11-01T00:00:00Z")


def test_the_throwaway_profile_goes_however_the_block_ends(tmp_path: Path) -> None:
    """
    A profile of its own under RUNNER_TEMP, whatever the settings named; removed on error too.
    """
    settings = Settings(profile="production", config_dir=tmp_path / "real", credentials_from="env")
    seen: list[Settings] = []

    def fail_inside() -> None:
        with throwaway_profile(settings, str(tmp_path)) as profile:
            seen.append(profile)
            assert profile.config_dir is not None
            (profile.config_dir / "left-over").write_text("x", encoding="utf-8")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    (profile,) = seen
    assert profile.config_dir is not None
    assert profile.config_dir.parent == tmp_path / "spatiafi-ops"
    assert profile.config_dir.name.startswith("rotate.")
    assert (profile.profile, profile.credentials_from) == ("default", None)
    assert list((tmp_path / "spatiafi-ops").iterdir()) == []
    with pytest.raises(LocalStateError), throwaway_profile(settings, ""):
        pass


def test_sinks_the_command_starts_never_see_the_current_credentials(
    tmp_path: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """
    The real command, as the action's step runs it: a command sink records its environment,
    which holds the new credentials on stdin only and neither form of the current ones.
    """
    created = spatiafi_emulator.create_client()
    document = json.dumps(
        {
            "client_id": created.client_id,
            "client_secret": created.client_secret,
            "created_at": "2020-01-01T00:00:00Z",
        }
    )
    record = tmp_path / "sink-env.txt"
    recorder = (
        "import os, sys; sys.stdin.read(); "
        f"open({str(record)!r}, 'w').write(repr(dict(os.environ)))"
    )
    outputs = tmp_path / "github-output"
    outputs.touch()
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(outputs),
        "SPATIAFI_LOG_FORMAT": "json",
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
        **_environ(
            SPATIAFI_ACTION_CREDENTIALS_JSON=document,
            SPATIAFI_CLIENT_ID="",
            SPATIAFI_CLIENT_SECRET="",
            SPATIAFI_PUBLISH=f"command:{sys.executable} -c {json.dumps(recorder)}",
        ),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", "github-action", "rotate"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    seen = record.read_text(encoding="utf-8")
    assert created.client_secret not in seen
    assert "SPATIAFI_ACTION_CREDENTIALS_JSON" not in seen
    assert "rotated=" not in completed.stdout  # outputs go to GITHUB_OUTPUT only
    assert "rotated" in outputs.read_text(encoding="utf-8")
    assert list((tmp_path / "runner-temp" / "spatiafi-ops").glob("rotate.*")) == []
