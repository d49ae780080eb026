"""
The docker, json and gitlab formats, read back by reference readers; the FORMATS registry.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spatiafi_ops._errors import UnsafeValue
from spatiafi_ops._models import AccessToken, AppCredentials, Variable
from spatiafi_ops.emit import (
    FORMATS,
    build_variables,
    render,
    render_docker,
    render_gitlab,
    render_json,
)

from .ci_readers import (
    ReaderError,
    gitlab_runtime_values,
    parse_docker_env_file,
    parse_gitlab_dotenv,
)

FRAGMENTS = [*"=#'\"$`\\ \t\r\n\0{}:-é😀\x0b\x0c\xa0", "$$", "${A}", "$1", "\r\n", "# c"]
VALUES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec="utf-8")),
    max_size=16,
).map("".join)

CREDENTIALS = AppCredentials("client-0001", "s3cr3t-Value-0123456789")
TOKEN = AccessToken("eyJ.token.value-0123456789", "bearer", 1_700_000_000.0)


def test_registry_holds_the_six_formats() -> None:
    """
    README: Output formats's formats, in one registry shared by emit and token.
    """
    assert list(FORMATS) == ["shell", "dotenv", "docker", "json", "github", "gitlab"]
    for name, emitter in FORMATS.items():
        assert emitter.name == name
        assert emitter.summary
        assert emitter.accepts_output is (name != "github")


def test_unknown_format_is_a_value_error_listing_the_choices() -> None:
    """
    A misspelt format names the valid ones.
    """
    with pytest.raises(ValueError, match="shell, dotenv"):
        render("yaml", [])


@pytest.mark.parametrize("fmt", ["shell", "dotenv", "docker", "json", "gitlab"])
def test_github_env_applies_to_github_only(fmt: str) -> None:
    """
    --github-env with another format is a caller mistake, not silently ignored.
    """
    with pytest.raises(ValueError, match="github"):
        render(fmt, [], github_env=True)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_no_variables_render_nothing(fmt: str) -> None:
    """
    An empty list is valid everywhere and writes no variable.
    """
    rendered = render(fmt, [])
    assert rendered.text in ("", "{}\n", None)
    assert rendered.commands == ""


# --- docker -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain", "A=plain\n"),
        ("", "A=\n"),
        ("  lead and trail  ", "A=  lead and trail  \n"),
        ("'quoted'", "A='quoted'\n"),
        ('"dq"', 'A="dq"\n'),
        ("a#b # c", "A=a#b # c\n"),
        ("$HOME ${X}", "A=$HOME ${X}\n"),
        ("x=y", "A=x=y\n"),
        ("mid\rcr", "A=mid\rcr\n"),
        ("€😀", "A=€😀\n"),
        ("l1\nl2", None),
        ("ends\r", None),
        ("a\0b", None),
        ("x" * 70_000, None),
    ],
)
def test_docker_lines_are_raw_or_refused(value: str, line: str | None) -> None:
    """
    K1: NAME=value as-is; LF, a trailing CR, NUL and over-long lines refused.
    """
    variables = [Variable("A", value, secret=True)]
    if line is None:
        with pytest.raises(UnsafeValue, match="cannot write A in the docker format"):
            render_docker(variables)
    else:
        assert render_docker(variables) == line
        assert parse_docker_env_file(line.encode(), {}) == [("A", value)]


@pytest.mark.parametrize("name", ["1A", "A B", "", "A=B", "#A", " A"])
def test_docker_refuses_names_docker_misreads(name: str) -> None:
    """
    Names docker would reject, split, or treat as a comment are refused.
    """
    with pytest.raises(UnsafeValue):
        render_docker([Variable(name, "x", secret=False)])


@settings(max_examples=100, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=6))
def test_docker_round_trips_through_the_env_file_reader(values: list[str]) -> None:
    """
    docker's kvfile reader returns exactly the accepted values; the others are refused.
    """
    carried = []
    for value in values:
        refused = "\n" in value or "\0" in value or value.endswith("\r")
        if refused:
            with pytest.raises(UnsafeValue):
                render_docker([Variable("V", value, secret=True)])
        else:
            carried.append(value)
    variables = [Variable(f"V{i}", value, secret=True) for i, value in enumerate(carried)]
    data = render_docker(variables).encode()
    assert parse_docker_env_file(data, {"V0": "host"}) == [(v.name, v.value) for v in variables]


# --- json -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.text(alphabet=st.characters(codec="utf-8")), max_size=6))
def test_json_round_trips_any_text(values: list[str]) -> None:
    """
    One JSON object whose values are the exact strings, in order.
    """
    variables = [Variable(f"V{i}", value, secret=True) for i, value in enumerate(values)]
    text = render_json(variables)
    assert text.endswith("}\n")
    assert text.count("\n") == 1
    assert list(json.loads(text).items()) == [(v.name, v.value) for v in variables]


def test_json_refuses_duplicates_and_lone_surrogates() -> None:
    """
    A duplicate name or text without a UTF-8 form cannot be written faithfully.
    """
    with pytest.raises(UnsafeValue, match="twice"):
        render_json([Variable("A", "1", secret=False), Variable("A", "2", secret=False)])
    with pytest.raises(UnsafeValue, match="not Unicode text"):
        render_json([Variable("A", "\udcff", secret=True)])


def test_json_of_credentials_and_token_uses_env_names() -> None:
    """
    The object maps README: Output formats's variable names to their values.
    """
    assert json.loads(render_json(build_variables(CREDENTIALS, TOKEN))) == {
        "SPATIAFI_CLIENT_ID": "client-0001",
        "SPATIAFI_CLIENT_SECRET": "s3cr3t-Value-0123456789",
        "SPATIAFI_ACCESS_TOKEN": "eyJ.token.value-0123456789",
        "SPATIAFI_TOKEN_EXPIRES_AT": "1700000000",
        "SPATIAFI_TOKEN_TYPE": "bearer",
    }


# --- gitlab -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain", "A=plain\n"),
        ("", "A=\n"),
        ("cost $5 $$", "A=cost $$5 $$$$\n"),
        ("${X}", "A=$${X}\n"),
        ("'quoted' \"too\"", "A='quoted' \"too\"\n"),
        ("a # not a comment", "A=a # not a comment\n"),
        ("in side", "A=in side\n"),
        ("x=y", "A=x=y\n"),
        ("\xa0nbsp", "A=\xa0nbsp\n"),
        ("l1\nl2", None),
        ("cr\rx", None),
        (" lead", None),
        ("trail\t", None),
        ("\x0bvt", None),
        ("a\0b", None),
    ],
)
def test_gitlab_lines_double_dollars_or_refuse(value: str, line: str | None) -> None:
    """
    L1-L4: KEY=VALUE, $ doubled, no line breaks or whitespace GitLab would strip.
    """
    variables = [Variable("A", value, secret=False)]
    if line is None:
        with pytest.raises(UnsafeValue, match="cannot write A in the gitlab format"):
            render_gitlab(variables)
    else:
        assert render_gitlab(variables) == line
        assert gitlab_runtime_values(line.encode(), {"X": "expanded"}) == {"A": value}


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "", "Ä", "A" * 256])
def test_gitlab_refuses_keys_gitlab_rejects(name: str) -> None:
    """
    L2: keys are [A-Za-z_][A-Za-z0-9_]{0,254}.
    """
    with pytest.raises(UnsafeValue):
        render_gitlab([Variable(name, "x", secret=False)])


@settings(max_examples=100, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=6))
def test_gitlab_round_trips_through_parser_and_runner_expansion(values: list[str]) -> None:
    """
    What a later job sees equals the value, for every value the format accepts.
    """
    carried = []
    for value in values:
        refused = any(c in value for c in "\n\r\0") or value != value.strip(" \t\n\v\f\r\0")
        if refused:
            with pytest.raises(UnsafeValue):
                render_gitlab([Variable("V", value, secret=True)])
        else:
            carried.append(value)
    variables = [Variable(f"V{i}", value, secret=False) for i, value in enumerate(carried)]
    data = render_gitlab(variables).encode()
    assert parse_gitlab_dotenv(data) == {v.name: v.value.replace("$", "$$") for v in variables}
    job_env = {"A": "from-job", "HOME": "/root"}
    assert gitlab_runtime_values(data, job_env) == {v.name: v.value for v in variables}


def test_gitlab_warns_that_secrets_cannot_be_masked() -> None:
    """
    L6: a secret in a dotenv report is unmasked; the notice names it (not its value).
    """
    rendered = render("gitlab", build_variables(CREDENTIALS, TOKEN))
    (notice,) = rendered.notices
    assert notice.event == "gitlab_masking_unavailable"
    assert "SPATIAFI_CLIENT_SECRET" in notice.message
    assert "SPATIAFI_ACCESS_TOKEN" in notice.message
    assert CREDENTIALS.client_secret not in notice.message
    assert render("gitlab", [Variable("A", "x", secret=False)]).notices == ()


def test_gitlab_warns_beyond_default_limits() -> None:
    """
    L5: more than 20 variables or 5 KB make GitLab reject the whole report.
    """
    many = [Variable(f"V{i}", "x", secret=False) for i in range(21)]
    big = [Variable("V", "x" * 6000, secret=False)]
    assert [n.event for n in render("gitlab", many).notices] == ["gitlab_variable_limit_exceeded"]
    assert [n.event for n in render("gitlab", big).notices] == ["gitlab_size_limit_exceeded"]


def test_reference_gitlab_parser_rejects_blank_lines() -> None:
    """
    The test reader is faithful: an empty line or a line without '=' fails the report.
    """
    for bad in (b"A=1\n\nB=2\n", b"A\n", b"=x\n", b"K E Y=1\n"):
        with pytest.raises(ReaderError):
            parse_gitlab_dotenv(bad)
    assert parse_gitlab_dotenv(b'KEY1 ="VAR1"\nK=a=b\n') == {"KEY1": '"VAR1"', "K": "a=b"}
