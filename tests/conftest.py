"""
Shared fixtures: a clean environment per test, private temp dirs, a recording CLI runner,
and the collector behind the suite-wide secret-leak scan (tests/e2e/test_no_secret_leaks.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from spatiafi_ops._redaction import known_secrets
from spatiafi_ops.cli import cli
from tests.leak_scan import LeakScan

# Hypothesis' per-example deadline (200 ms) and its too_slow health check time the machine,
# not the code: under load, or four xdist workers on two CPUs, they failed at random.
settings.register_profile("spatiafi", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("spatiafi")

LEAK_SCAN = LeakScan()
# Every byte our code wrote where secrets must never be: stderr, logs, result JSON.
CAPTURED_OUTPUT = LEAK_SCAN.outputs
# Every secret any test handled, snapshotted after each test (tests may reset the registry).
SEEN_SECRETS = LEAK_SCAN.secrets

_SCRUBBED_PREFIXES = ("SPATIAFI_", "GITHUB_", "GITLAB_", "RUNNER_")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE")


def record_output(*texts: str | bytes | None) -> None:
    """
    Add output that must be free of secrets to the suite-wide scan.
    """
    for text in texts:
        decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        if decoded:
            CAPTURED_OUTPUT.append(decoded)


def record_secret(*values: str) -> None:
    """
    Add secrets that only a subprocess saw (its stdout) to the suite-wide scan.
    """
    SEEN_SECRETS.update(v for v in values if v)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield
    SEEN_SECRETS.update(known_secrets())
    # Scanned as the suite goes: under pytest-xdist no single test runs after all others.
    leaks = LEAK_SCAN.scan_new()
    assert not leaks, f"secret leak (this test's output, or an earlier one's): {leaks}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for _title, content in report.sections:
        record_output(content)
    if report.longreprtext:
        record_output(report.longreprtext)


# A test whose call phase takes longer than this carries the slow marker (issue 22). The
# summary always names offenders; SPATIAFI_CHECK_DURATIONS=1 (CI) fails them instead. Tests
# stay far below it on a quiet machine, so that a loaded one does not make them flake.
SLOW_CALL_SECONDS = 15.0
_CHECK_DURATIONS = pytest.StashKey[bool]()


def unmarked_and_slow(report: pytest.TestReport) -> bool:
    """
    Return whether *report* is a call phase over SLOW_CALL_SECONDS without a slow marker.
    """
    return (
        report.when == "call"
        and report.duration > SLOW_CALL_SECONDS
        and "slow" not in report.keywords
    )


def fail_if_unmarked_and_slow(report: pytest.TestReport) -> None:
    """
    Turn a passed but unmarked slow call into a failure that says why.
    """
    if report.passed and unmarked_and_slow(report):
        report.outcome = "failed"
        report.longrepr = (
            f"took {report.duration:.1f} s, over {SLOW_CALL_SECONDS:g} s without a slow marker: "
            "shorten it (a short --deadline where it waits for one) or mark it slow"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    if item.config.stash.get(_CHECK_DURATIONS, False):
        fail_if_unmarked_and_slow(outcome.get_result())  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # On the controller under xdist too: the reports carry their duration and keywords.
    reports = [r for kind in ("passed", "failed") for r in terminalreporter.stats.get(kind, [])]
    over = sorted((r for r in reports if unmarked_and_slow(r)), key=lambda r: -r.duration)
    if over:
        terminalreporter.section(f"over {SLOW_CALL_SECONDS:g} s without a slow marker")
        for report in over:
            terminalreporter.line(f"{report.duration:.1f}s {report.nodeid}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The leak scan reads what every other test produced, so it runs last. Slow tests run
    # first: pytest-xdist's workers then share out the short ones instead of one worker
    # finishing a long test alone at the end.
    items.sort(
        key=lambda item: (
            "test_no_secret_leaks" in item.nodeid,
            item.get_closest_marker("slow") is None,
        )
    )
    for item in items:
        skip_posix_only(item, sys.platform)


def skip_posix_only(item: pytest.Item, platform: str) -> None:
    """
    Skip a test marked ``@pytest.mark.posix(reason)`` on Windows, saying why; a mark
    without a reason is a usage error on every platform, so Linux catches it first.
    """
    for mark in item.iter_markers("posix"):
        reason = mark.args[0] if len(mark.args) == 1 and not mark.kwargs else None
        if not isinstance(reason, str) or not reason.strip():
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.posix needs one reason")
        if platform == "win32":
            item.add_marker(pytest.mark.skip(reason=f"POSIX only: {reason}"))
            return


@pytest.fixture(autouse=True, name="clean_environment")
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """
    Scrub SPATIAFI_*, CI and proxy variables; point config and cache at private temp dirs.
    """
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name.upper() in _PROXY_VARS:
            monkeypatch.delenv(name)
    for name in _PROXY_VARS:
        monkeypatch.delenv(name.lower(), raising=False)
    _private_home(monkeypatch, tmp_path_factory.mktemp("home"))
    dirs = {"config": tmp_path / "config", "cache": tmp_path / "cache"}
    monkeypatch.setenv("SPATIAFI_CONFIG_DIR", str(dirs["config"]))
    monkeypatch.setenv("SPATIAFI_CACHE_DIR", str(dirs["cache"]))
    monkeypatch.setenv("SPATIAFI_LOG_FORMAT", "json")
    return dirs


# Where a home's config, cache, data and state live, per platform: XDG (Linux and the BSDs,
# platformdirs' rule), ~/Library under HOME (macOS), the profile's AppData (Windows).
_HOME_VARIABLES = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "APPDATA": "AppData/Roaming",
    "LOCALAPPDATA": "AppData/Local",
}


def _private_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """
    Give the test (and every process it starts) a home of its own: HOME, USERPROFILE and
    the XDG and AppData dirs, so that a default path never reaches the user's real one.
    """
    pip_config = _REAL_PIP_CONFIG
    home.chmod(0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for name, relative in _HOME_VARIABLES.items():
        monkeypatch.setenv(name, str(home / relative))
    if pip_config is not None and "PIP_CONFIG_FILE" not in os.environ:
        monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_config))  # read, never written


def _real_pip_config() -> Path | None:
    """
    Return the user's pip configuration (its index), which a new HOME would hide from the
    tests that install packages.
    """
    import platformdirs

    for path in (
        Path(platformdirs.user_config_dir("pip", appauthor=False, roaming=True)) / "pip.conf",
        Path(platformdirs.user_config_dir("pip", appauthor=False, roaming=True)) / "pip.ini",
        Path.home() / ".pip" / "pip.conf",
    ):
        if path.is_file():
            return path
    return None


_REAL_PIP_CONFIG = _real_pip_config()


def _user_state_snapshot() -> dict[str, tuple[int, int]]:
    """
    Return (size, mtime) of every file under the user's real spatiafi config and cache dirs.
    """
    from spatiafi_ops._config import default_cache_dir, default_config_dir

    found: dict[str, tuple[int, int]] = {}
    for root in {default_config_dir(), default_cache_dir()}:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            info = path.lstat()
            found[str(path)] = (info.st_size, info.st_mtime_ns)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_USER_STATE] = _user_state_snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_USER_STATE, None)
    if before is None:
        return
    after = _user_state_snapshot()
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            "the tests changed the user's own spatiafi config or cache dirs (a test used a "
            f"default path instead of its temp dirs): {', '.join(changed[:10])}"
        )
        if reporter is not None:
            reporter.write_line(f"ERROR: {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_USER_STATE = pytest.StashKey[dict[str, tuple[int, int]]]()


@pytest.fixture(name="socket_dir")
def _socket_dir() -> Iterator[Path]:
    """
    A fresh private directory whose path leaves room for a Unix socket's name.

    sun_path holds 104 bytes on macOS and 108 on Linux (sys/un.h); macOS's $TMPDIR
    (/var/folders/xx/<30 characters>/T/) makes pytest's tmp_path longer than that.
    """
    directory = Path(
        tempfile.mkdtemp(prefix="spatiafi-", dir="/tmp" if os.path.isdir("/tmp") else None)
    )
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True, name="reset_logging")
def _reset_logging() -> Iterator[None]:
    """
    Undo the log set-up of a CLI run in this process, as the end of its process would.
    """
    yield
    import logging

    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "spatiafi_ops"]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    if "structlog" in sys.modules:
        sys.modules["structlog"].reset_defaults()


class RecordingRunner(CliRunner):
    """
    A ``CliRunner`` for ``spatiafi-ops`` that feeds stderr to the leak scan.
    """

    def run(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        result = self.invoke(cli, list(args), input=input, env=env, catch_exceptions=True)
        record_output(result.stderr)
        return result


@pytest.fixture(name="runner")
def _runner() -> RecordingRunner:
    return RecordingRunner()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "leak_scan: the suite-wide secret scan")
    # Read once: clean_environment removes SPATIAFI_* variables while a test runs.
    config.stash[_CHECK_DURATIONS] = os.environ.get("SPATIAFI_CHECK_DURATIONS") == "1"


def json_lines(text: str) -> list[dict[str, Any]]:
    """
    Parse stderr in the json log format: every line one JSON object, the final error too.
    """
    import json

    events = []
    for line in text.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict), line
        events.append(event)
    return events


def final_error(stderr: str) -> dict[str, Any]:
    """
    Return the final error event of JSON-only *stderr*, checking that it is the only one.
    """
    events = json_lines(stderr)
    errors = [event for event in events if event["event"] == "error"]
    assert errors == [events[-1]], stderr
    assert events[-1]["level"] == "error"
    return events[-1]
