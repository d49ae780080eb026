"""
The harness itself follows the runner: file-command parsing, masking order, expressions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import POSIX_BASH, needs_bash
from .expressions import ExpressionError, condition, evaluate, interpolate
from .harness import FileCommandError, FilePair, HarnessError, Job, Log, parse_file_command

# From the runner's SetOutputFileCommandL0 / SetEnvFileCommandL0 tests (actions/runner).
PARSER_CASES = [
    ("MY_OUTPUT=\n", [FilePair("MY_OUTPUT", "", heredoc=False)]),
    (
        "A==abc\nB=def=ghi\nC=jkl=\n",
        [
            FilePair("A", "=abc", False),
            FilePair("B", "def=ghi", False),
            FilePair("C", "jkl=", False),
        ],
    ),
    ("A<<=EOF\nhello\none\n=EOF\n", [FilePair("A", "hello\none", True, "=EOF")]),
    ("A<<EOF\nhello\n\nthree\n\nEOF\n", [FilePair("A", "hello\n\nthree\n", True, "EOF")]),
    ("A<<EOF\n EOF\nEOF\n", [FilePair("A", " EOF", True, "EOF")]),
    ("A<<EOF\nEOF\n", [FilePair("A", "", True, "EOF")]),
    ("A=x<<y\n", [FilePair("A", "x<<y", False)]),
    ("A=val\r\n", [FilePair("A", "val\r", False)]),
    ("\ufeffA=1\n\nB=2", [FilePair("A", "1", False), FilePair("B", "2", False)]),
]


@pytest.mark.parametrize(("text", "expected"), PARSER_CASES)
def test_file_command_parser_matches_the_runner(text: str, expected: list[FilePair]) -> None:
    """
    GITHUB_OUTPUT/ENV text parses as the runner's EnvFileKeyValuePairs does on Linux.
    """
    assert parse_file_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A<<'EOF'\nx\nEOF\n", "Matching delimiter not found ''EOF''"),
        ("A<<\nx\n", "delimiter must not be empty"),
        ("just text\n", "Invalid format 'just text'"),
        ("   \n", "Invalid format"),
    ],
)
def test_file_command_parser_rejects_what_the_runner_rejects(text: str, message: str) -> None:
    """
    Invalid lines raise with the runner's message.
    """
    with pytest.raises(FileCommandError, match=message):
        parse_file_command(text)


def test_a_mask_applies_from_the_next_line_only() -> None:
    """
    A value printed before its ::add-mask:: stays visible; after it, it is ***.
    """
    log = Log()
    log.feed("s3cr3t-value early\n::add-mask::s3cr3t-value\nlate s3cr3t-value\n")
    assert log.lines == ["s3cr3t-value early", "late ***"]
    assert "s3cr3t-value" in log.masks


def test_add_mask_is_unescaped_and_registers_each_line() -> None:
    """
    %25, %0D and %0A are decoded; each trimmed line of a multi-line secret is masked too.
    """
    log = Log()
    log.feed("::add-mask::first%0A  second-line %0D%0A50%25off\nfirst second-line 50%off\n")
    assert {"first", "second-line", "50%off"} <= log.masks
    assert log.lines == ["*** *** ***"]


def test_annotations_are_parsed_and_masked() -> None:
    """
    ::error title=...:: becomes an annotation whose message is masked like any line.
    """
    log = Log(masks={"hunter22"})
    log.feed("  ::error title=spatiafi-ops::bad hunter22%0Anext\n")
    (annotation,) = log.annotations
    assert annotation.level == "error"
    assert annotation.properties == {"title": "spatiafi-ops"}
    assert annotation.message == "bad ***\nnext"


def test_deprecated_commands_fail_the_harness() -> None:
    """
    ::set-output:: and ::stop-commands:: are never acceptable in our actions.
    """
    with pytest.raises(HarnessError):
        Log().feed("::set-output name=x::1\n")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("inputs.export-env == 'TRUE'", True),  # strings compare case-insensitively
        ("inputs.write-back != 'none' && steps.a.outputs.rotated == 'true'", False),
        ("steps.b.outputs.revoked || 'false'", "false"),
        ("steps.a.outputs.rotated && 'yes'", "yes"),
        ("!inputs.empty", True),
        ("inputs.export-env == true", False),  # 'true' vs true: compared as numbers (NaN)
        ("contains('abc', 'B') && startsWith('abc', 'a') && endsWith('abc', 'c')", True),
        ("1 < 2 && null == 0 && 'x' != 'y'", True),
    ],
)
def test_expressions_follow_github_semantics(expression: str, expected: object) -> None:
    """
    Operators return operands, compare case-insensitively, and coerce like GitHub's.
    """
    contexts = {
        "inputs": {"export-env": "true", "write-back": "none", "empty": ""},
        "steps": {"a": {"outputs": {"rotated": "true"}}, "b": {"outputs": {}}},
    }
    assert evaluate(expression, contexts) == expected


def test_interpolation_and_conditions() -> None:
    """
    ${{ }} renders values as strings; if: implies success() unless it calls a status function.
    """
    contexts = {"runner": {"temp": "/t"}, "inputs": {"n": "1"}}
    assert interpolate("${{ runner.temp }}/x-${{ inputs.missing }}", contexts) == "/t/x-"
    failed = {"success": False, "failure": True, "always": True, "cancelled": False}.__getitem__
    assert not condition("inputs.n == '1'", contexts, failed)
    assert condition("${{ always() && inputs.n == 1 }}", contexts, failed)
    with pytest.raises(ExpressionError):
        evaluate("fromJSON('{}')", contexts)


@POSIX_BASH
@needs_bash
def test_run_steps_with_expressions_are_refused(tmp_path: Path) -> None:
    """
    An action with ${{ }} inside run: cannot be run by the harness (script injection).
    """
    action = tmp_path / "bad"
    action.mkdir()
    (action / "action.yml").write_text(
        "name: bad\ndescription: bad\ninputs:\n  x:\n    description: x\n"
        "runs:\n  using: composite\n  steps:\n"
        "    - shell: bash\n      run: echo ${{ inputs.x }}\n",
        encoding="utf-8",
    )
    job = Job(root=tmp_path / "job", env={"PATH": "/usr/bin:/bin"})
    with pytest.raises(HarnessError, match="script injection"):
        job.run(action, {"x": "$(id)"})


@POSIX_BASH
@needs_bash
def test_env_files_apply_to_later_steps_and_failures_skip(tmp_path: Path) -> None:
    """
    GITHUB_ENV/GITHUB_PATH apply from the next step; a failure skips all but always() steps.
    """
    action = tmp_path / "flow"
    action.mkdir()
    (action / "action.yml").write_text(
        """
name: flow
description: flow
outputs:
  seen:
    description: seen
    value: ${{ steps.second.outputs.seen }}
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      run: |
        echo "FOO=bar" >> "$GITHUB_ENV"
        echo "/opt/extra" >> "$GITHUB_PATH"
        echo "in-step=${FOO:-unset}"
    - id: second
      shell: bash
      run: |
        echo "seen=${FOO}:${PATH%%:*}" >> "$GITHUB_OUTPUT"
        exit 7
    - id: skipped
      shell: bash
      run: echo never
    - id: cleanup
      if: always()
      shell: bash
      run: echo cleaned
""",
        encoding="utf-8",
    )
    job = Job(root=tmp_path / "job", env={"PATH": "/usr/bin:/bin"})
    result = job.run(action)
    assert result.outputs == {"seen": "bar:/opt/extra"}
    assert [step.outcome for step in result.steps] == ["success", "failure", "skipped", "success"]
    assert result.exit_code == 7
    assert result.log.lines == ["in-step=unset", "cleaned"]
    assert result.exported_env == {"FOO": "bar"}


@POSIX_BASH
@needs_bash
def test_the_uses_steps_env_reaches_every_step_inside_for_that_run_only(tmp_path: Path) -> None:
    """
    env: on the step that uses the action wins over the job's, in the process environment
    and the env context alike, and is gone for the next use.
    """
    action = tmp_path / "env"
    action.mkdir()
    (action / "action.yml").write_text(
        """
name: env
description: env
outputs:
  context:
    description: context
    value: ${{ env.FOO }}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        FROM_CONTEXT: ${{ env.FOO }}
      run: echo "process=${FOO:-unset} context=${FROM_CONTEXT}"
""",
        encoding="utf-8",
    )
    job = Job(root=tmp_path / "job", env={"PATH": "/usr/bin:/bin", "FOO": "job"})
    used = job.run(action, env={"FOO": "step"})
    again = job.run(action)

    assert used.outputs == {"context": "step"}
    assert again.outputs == {"context": "job"}
    assert job.log.lines == ["process=step context=step", "process=job context=job"]
