"""
The github format: masks first, heredoc blocks the runner reads back exactly, no injection.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spatiafi_ops._errors import OutputError, UnsafeValue
from spatiafi_ops._models import AccessToken, AppCredentials, Variable
from spatiafi_ops.emit import (
    FORMATS,
    GitHubEmitter,
    Rendered,
    build_variables,
    render,
    render_github,
    write,
)
from spatiafi_ops.emit._quoting import mask_commands

from .ci_readers import ReaderError, hidden_characters, mask, parse_github_file, registered_masks

FRAGMENTS = [
    *"=<%\r\n \t:'\"$\\é😀",
    "<<",
    "ghadelimiter_",
    "\nghadelimiter_00000000-0000-0000-0000-000000000000\n",
    "\nEOF\n",
    "\nNODE_OPTIONS=--require=/tmp/x\n",
    "%0A",
    "%25",
    "::add-mask::",
    "\r\n",
]
VALUES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec="utf-8")),
    max_size=16,
).map("".join)

SECRET = "s3cr3t-Value-0123456789"
CREDENTIALS = AppCredentials("0b8e6a4c-client", SECRET)
TOKEN = AccessToken("eyJ.token.value-0123456789", "bearer", 1_700_000_000.9)


def github_refuses(value: str) -> bool:
    """
    Return whether the format must refuse *value* (actions/runner FileCommandManager.cs).
    """
    return "\0" in value or "\r\n" in value or value.endswith("\r")


class Runner:
    """
    A step's file-command files, created empty as the runner does (FileCommandManager.cs).
    """

    def __init__(self, directory: Path, *, summary: bool = True) -> None:
        self.output = directory / "set_output"
        self.env_file = directory / "set_env"
        self.summary = directory / "step_summary"
        self.environ = {"GITHUB_OUTPUT": str(self.output), "GITHUB_ENV": str(self.env_file)}
        for path in (self.output, self.env_file, self.summary):
            path.write_bytes(b"")
        if summary:
            self.environ["GITHUB_STEP_SUMMARY"] = str(self.summary)

    def outputs(self, *, windows: bool = False) -> list[tuple[str, str]]:
        return parse_github_file(self.output.read_bytes(), windows=windows)

    def env(self, *, windows: bool = False) -> list[tuple[str, str]]:
        return parse_github_file(self.env_file.read_bytes(), windows=windows)


@pytest.fixture(name="runner")
def _runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


def counter_delimiters() -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"ghadelimiter_test{next(numbers):08d}"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.tuples(VALUES, st.booleans()), min_size=1, max_size=5),
    github_env=st.booleans(),
)
# A secret that its own mask "***" contains: the runner shows "***", which holds "*".
@example(values=[("*", True)], github_env=False)
def test_runner_reads_back_exactly_the_intended_pairs(
    values: list[tuple[str, bool]], github_env: bool
) -> None:
    """
    Every emitted file parses (Linux and Windows runner) to exactly our names and values.
    """
    variables = [
        Variable(f"SPATIAFI_V{index}", value, secret=secret)
        for index, (value, secret) in enumerate(values)
    ]
    if any(github_refuses(variable.value) for variable in variables):
        with pytest.raises(UnsafeValue) as caught:
            render_github(variables, github_env=github_env)
        assert github_refuses(next(v for v in variables if v.name == caught.value.name).value)
        return
    rendered = render_github(variables, github_env=github_env)
    stdout = io.StringIO()
    with tempfile.TemporaryDirectory() as directory:
        runner = Runner(Path(directory))
        # Something an earlier command of the step wrote, without its final newline.
        runner.output.write_bytes(b"earlier=1")
        write(rendered, stdout=stdout, environ=runner.environ)
        expected = [("earlier", "1")] + [
            (f"spatiafi-v{i}", v.value) for i, v in enumerate(variables)
        ]
        for windows in (False, True):
            assert runner.outputs(windows=windows) == expected
            if github_env:
                assert runner.env(windows=windows) == [(v.name, v.value) for v in variables]
        assert runner.env_file.read_bytes() == b"" or github_env
        summary = runner.summary.read_text()

    masks = registered_masks(stdout.getvalue())
    for index, variable in enumerate(variables):
        if variable.secret and variable.value.strip():
            assert variable.value in masks
            for line in re.split(r"[\r\n]", variable.value):
                if line.strip():
                    assert line.strip() in masks
            # The masker hides every character of the value in any later log line. (What
            # the runner shows is "***" in its place, which still contains a secret "*".)
            line = f"log: {variable.value} end"
            start = len("log: ")
            assert all(hidden_characters(line, masks)[start : start + len(variable.value)])
        # Only non-secret outputs have a row in the step summary.
        assert (f"`spatiafi-v{index}`" in summary) is not variable.secret


@pytest.mark.parametrize(
    ("value", "lines"),
    [
        ("hunter2", ["::add-mask::hunter2\n"]),
        ("50%off", ["::add-mask::50%25off\n"]),
        ("ab%0Acd", ["::add-mask::ab%250Acd\n"]),
        (
            "first\nsecond\r\nthird",
            [
                "::add-mask::first%0Asecond%0D%0Athird\n",
                "::add-mask::first\n",
                "::add-mask::second\n",
                "::add-mask::third\n",
            ],
        ),
        ("  padded  ", ["::add-mask::  padded  \n", "::add-mask::padded\n"]),
        ("", []),
        (" \n ", []),
    ],
)
def test_mask_lines_escape_percent_cr_lf_and_cover_every_line(value: str, lines: list[str]) -> None:
    """
    actions/runner ActionCommandManager.cs table: % first, then CR and LF; one more mask per trimmed
    line (M4).
    """
    assert list(mask_commands(value)) == lines
    assert registered_masks("".join(lines)) == ([value] if value.strip() else []) + [
        line.strip()
        for line in re.split(r"\r\n|\n", value)
        if line.strip() != value and line.strip()
    ]


def test_multi_line_secret_masks_every_line_before_output() -> None:
    """
    A multi-line secret is masked whole and line by line in the github commands.
    """
    key = "-----BEGIN KEY-----\nMIIEabc%def\n-----END KEY-----\n"
    rendered = render_github([Variable("SPATIAFI_KEY", key, secret=True)])
    masks = registered_masks(rendered.commands)
    assert masks == [key, "-----BEGIN KEY-----", "MIIEabc%def", "-----END KEY-----"]
    assert "MIIE" not in mask("log line: MIIEabc%def", masks)


def test_masks_reach_stdout_before_any_file_is_written(runner: Runner) -> None:
    """
    The mask commands are flushed to stdout while every runner file is still empty.
    """
    seen: list[tuple[str, bytes, bytes]] = []

    class Probe(io.StringIO):
        def write(self, text: str) -> int:
            seen.append((text, runner.output.read_bytes(), runner.env_file.read_bytes()))
            return super().write(text)

    variables = build_variables(CREDENTIALS, TOKEN)
    write(render("github", variables, github_env=True), stdout=Probe(), environ=runner.environ)
    assert seen, "nothing was printed"
    assert all(output == b"" and env == b"" for _, output, env in seen)
    assert SECRET in registered_masks("".join(text for text, _, _ in seen))
    assert runner.output.read_bytes()
    assert runner.env_file.read_bytes()


def test_outputs_are_kebab_case_and_env_uses_variable_names(runner: Runner) -> None:
    """
    README, Output formats: client-id, client-secret, access-token, expires-at, token-type;
    env by name.
    """
    variables = build_variables(CREDENTIALS, TOKEN, prefix="MY_")
    write(render_github(variables, github_env=True), stdout=io.StringIO(), environ=runner.environ)
    assert runner.outputs() == [
        ("client-id", CREDENTIALS.client_id),
        ("client-secret", SECRET),
        ("access-token", TOKEN.value),
        ("expires-at", "1700000000"),
        ("token-type", "bearer"),
    ]
    assert [name for name, _ in runner.env()] == [
        "MY_CLIENT_ID",
        "MY_CLIENT_SECRET",
        "MY_ACCESS_TOKEN",
        "MY_TOKEN_EXPIRES_AT",
        "MY_TOKEN_TYPE",
    ]


def test_each_value_gets_a_fresh_random_delimiter() -> None:
    """
    Delimiters are ghadelimiter_<uuid4>, never reused within or across renders.
    """
    variables = build_variables(CREDENTIALS, TOKEN)
    headers = [
        line
        for _ in range(2)
        for line in render_github(variables, github_env=True).appends[0].text.splitlines()
        if "<<" in line
    ]
    delimiters = [header.split("<<", 1)[1] for header in headers]
    assert len(set(delimiters)) == len(delimiters) == 10
    assert all(d.startswith("ghadelimiter_") and len(d) == 13 + 36 for d in delimiters)


def test_value_containing_its_delimiter_is_refused() -> None:
    """
    G3: a value holding the delimiter could close the block early; it is refused.
    """
    emitter = GitHubEmitter(new_delimiter=lambda: "ghadelimiter_fixed-delimiter")
    value = "x\nghadelimiter_fixed-delimiter\nNODE_OPTIONS=--require=/tmp/evil.js"
    with pytest.raises(UnsafeValue) as caught:
        emitter.render([Variable("SPATIAFI_ACCESS_TOKEN", value, secret=True)])
    assert caught.value.name == "SPATIAFI_ACCESS_TOKEN"
    assert "evil" not in str(caught.value)


def test_injection_attempt_with_other_delimiters_stays_data(runner: Runner) -> None:
    """
    Lines looking like delimiters, headers or NAME=VALUE inside a value stay in the value.
    """
    value = "a\nghadelimiter_other000000001\nEOF\nPATH<<EOF\n/evil\nEOF\nNODE_OPTIONS=x\n"
    emitter = GitHubEmitter(new_delimiter=counter_delimiters())
    rendered = emitter.render([Variable("SPATIAFI_V", value, secret=False)], github_env=True)
    write(rendered, stdout=io.StringIO(), environ=runner.environ)
    assert runner.outputs() == [("spatiafi-v", value)]
    assert runner.env() == [("SPATIAFI_V", value)]


@pytest.mark.parametrize(
    "name",
    [
        "NODE_OPTIONS",
        "node_options",
        "ACTIONS_ALLOW_UNSECURE_COMMANDS",
        "LD_PRELOAD",
        "BASH_ENV",
        "ENV",
        "PATH",
        "GITHUB_TOKEN",
        "GITHUB_PATH",
        "RUNNER_TEMP",
        "A=B",
        "A\nB",
        "A<<B",
        "A B",
        "",
        "1A",
    ],
)
def test_github_env_refuses_blocked_and_misparsed_names(name: str) -> None:
    """
    G2/G6: names the runner blocks, mis-parses, or that hijack later steps are refused.
    """
    with pytest.raises(UnsafeValue) as caught:
        render_github([Variable(name, "value", secret=False)], github_env=True)
    assert caught.value.name == name


@pytest.mark.parametrize("name", ["A=B", "A\nB", "A<<B", "", "A B"])
def test_github_output_refuses_names_the_runner_misparses(name: str) -> None:
    """
    An output name with '=', '<<', a newline or a space would change how the file parses.
    """
    with pytest.raises(UnsafeValue):
        render_github([Variable(name, "value", secret=False)])


@pytest.mark.parametrize("value", ["a\0b", "a\r\nb", "ab\r"])
def test_values_the_runner_would_change_are_refused(value: str) -> None:
    """
    G4/G7: NUL, and a CR before a line break (dropped by Windows runners), are refused.
    """
    with pytest.raises(UnsafeValue, match="SPATIAFI_ACCESS_TOKEN"):
        render_github([Variable("SPATIAFI_ACCESS_TOKEN", value, secret=True)])


def test_missing_github_output_is_an_output_error_and_prints_nothing() -> None:
    """
    Without GITHUB_OUTPUT nothing is printed (not even masks) and OutputError says why.
    """
    stdout = io.StringIO()
    rendered = render("github", build_variables(CREDENTIALS, TOKEN))
    with pytest.raises(OutputError, match="GITHUB_OUTPUT is not set"):
        write(rendered, stdout=stdout, environ={})
    assert stdout.getvalue() == ""


def test_github_output_pointing_nowhere_is_an_output_error(tmp_path: Path) -> None:
    """
    The runner creates GITHUB_OUTPUT; a path that does not exist is not created by us.
    """
    missing = tmp_path / "nope"
    with pytest.raises(OutputError, match="GITHUB_OUTPUT"):
        write(
            render("github", build_variables(CREDENTIALS)),
            stdout=io.StringIO(),
            environ={"GITHUB_OUTPUT": str(missing)},
        )
    assert not missing.exists()


def test_missing_github_env_fails_before_github_output_is_touched(runner: Runner) -> None:
    """
    --github-env without GITHUB_ENV fails as a whole: GITHUB_OUTPUT stays empty.
    """
    del runner.environ["GITHUB_ENV"]
    rendered = render("github", build_variables(CREDENTIALS), github_env=True)
    with pytest.raises(OutputError, match="GITHUB_ENV is not set"):
        write(rendered, stdout=io.StringIO(), environ=runner.environ)
    assert runner.output.read_bytes() == b""


def test_append_leaves_mode_and_earlier_content_alone(runner: Runner) -> None:
    """
    The runner's file keeps its mode and earlier lines; our blocks are appended after them.
    """
    runner.output.write_bytes(b"before=1\n")
    runner.output.chmod(0o644)
    write(
        render("github", build_variables(CREDENTIALS)),
        stdout=io.StringIO(),
        environ=runner.environ,
    )
    if sys.platform != "win32":  # Windows keeps no mode bits to compare (docs/files.md)
        assert runner.output.stat().st_mode & 0o777 == 0o644
    assert runner.outputs()[0] == ("before", "1")
    assert len(runner.outputs()) == 3


def test_step_summary_holds_only_non_secret_facts(runner: Runner) -> None:
    """
    The summary shows the client id and expiry, never the client secret or the token.
    """
    write(
        render("github", build_variables(CREDENTIALS, TOKEN)),
        stdout=io.StringIO(),
        environ=runner.environ,
    )
    summary = runner.summary.read_text()
    assert CREDENTIALS.client_id in summary
    assert "1700000000" in summary
    assert "2023-11-14T22:13:20Z" in summary
    assert SECRET not in summary
    assert TOKEN.value not in summary


def test_step_summary_is_skipped_when_unset(tmp_path: Path) -> None:
    """
    Without GITHUB_STEP_SUMMARY the outputs are still written and nothing fails.
    """
    runner = Runner(tmp_path, summary=False)
    write(
        render("github", build_variables(CREDENTIALS)), stdout=io.StringIO(), environ=runner.environ
    )
    assert runner.summary.read_bytes() == b""
    assert [name for name, _ in runner.outputs()] == ["client-id", "client-secret"]


def test_github_has_no_product_for_output_paths(tmp_path: Path, runner: Runner) -> None:
    """
    --output does not apply to github: FORMATS says so and write() refuses a path.
    """
    assert FORMATS["github"].accepts_output is False
    with pytest.raises(ValueError, match="github"):
        write(
            render("github", build_variables(CREDENTIALS)),
            stdout=io.StringIO(),
            output=tmp_path / "x",
            environ=runner.environ,
        )


def test_short_and_blank_secrets_are_reported() -> None:
    """
    M3: a blank secret cannot be masked, a short one over-masks; both are noticed.
    """
    rendered = render_github([Variable("A", "", secret=True), Variable("B", "short", secret=True)])
    assert [notice.event for notice in rendered.notices] == [
        "github_mask_skipped",
        "github_short_secret_masked",
    ]


def test_reference_parser_rejects_what_the_runner_rejects() -> None:
    """
    The test reader is faithful: unterminated heredocs and bare lines fail as on the runner.
    """
    for bad in (b"A<<EOF\nx\n", b"A<<EOF\nx", b"just text\n", b" \n", b"<<EOF\nEOF\n"):
        with pytest.raises(ReaderError):
            parse_github_file(bad)
    assert parse_github_file(b"A<<EOF\nhello\n\nthree\n\nEOF\n") == [("A", "hello\n\nthree\n")]
    assert parse_github_file(b"A<<=EOF\nhello\none\n=EOF\n") == [("A", "hello\none")]
    assert parse_github_file(b"A=x<<y\nB==abc\n") == [("A", "x<<y"), ("B", "=abc")]
    assert parse_github_file(b"A<<D\r\nx\r\nD\r\n") == [("A", "x\r")]
    assert parse_github_file(b"A<<D\r\nx\r\nD\r\n", windows=True) == [("A", "x")]


def _no_rendered_secret_in_repr(rendered: Rendered) -> Iterator[str]:
    yield repr(rendered)
    yield from (repr(append) for append in rendered.appends)


def test_rendered_output_never_shows_secrets_in_repr() -> None:
    """
    Rendered and FileAppend hide their text from repr, so logging them leaks nothing.
    """
    rendered = render_github(build_variables(CREDENTIALS, TOKEN), github_env=True)
    for text in _no_rendered_secret_in_repr(rendered):
        assert SECRET not in text
        assert TOKEN.value not in text


def test_write_is_in_one_append_per_file(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Each runner file gets one O_APPEND write, so a concurrent writer cannot split a block.
    """
    calls: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes | memoryview) -> int:
        calls.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    write(
        render("github", build_variables(CREDENTIALS, TOKEN), github_env=True),
        stdout=io.StringIO(),
        environ=runner.environ,
    )
    assert len(calls) == len(set(calls)) == 3  # OUTPUT, ENV, STEP_SUMMARY
