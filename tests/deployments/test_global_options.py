"""
A global option given after the command: the error names the command line that works,
never a look-alike option of the command that changes the meaning (click's "Did you mean").
"""

from __future__ import annotations

import pytest

from tests.conftest import RecordingRunner, final_error


@pytest.mark.parametrize(
    ("args", "fixed"),
    [
        (["token", "--profile", "ci"], "spatiafi-ops --profile ci token"),
        (["token", "--profile=ci"], "spatiafi-ops --profile=ci token"),
        (
            ["credentials", "rotate", "--max-age", "30d", "--config-dir", "/srv/state"],
            "spatiafi-ops --config-dir /srv/state credentials rotate",
        ),
        (
            ["emit", "--allow-insecure-permissions"],
            "spatiafi-ops --allow-insecure-permissions emit",
        ),
        (["token", "--log-format", "json"], "spatiafi-ops --log-format json token"),
        (
            ["--profile", "a", "token", "--profile", "b"],
            "spatiafi-ops --profile b token",
        ),
    ],
)
def test_a_global_option_after_the_command_names_where_it_goes(
    runner: RecordingRunner, args: list[str], fixed: str
) -> None:
    """Exit 2 and one sentence: "global options go before the command: `...`"."""
    result = runner.run(args)
    assert result.exit_code == 2
    assert result.stdout == ""
    message = final_error(result.stderr)["message"]
    assert message == f"global options go before the command: `{fixed}`"
    assert "Did you mean" not in result.stderr


def test_an_unknown_option_keeps_click_s_suggestion(runner: RecordingRunner) -> None:
    """An option that is no global one is click's error, as before."""
    result = runner.run(["token", "--min-tll", "60s"])
    assert result.exit_code == 2
    assert "No such option '--min-tll'" in final_error(result.stderr)["message"]
