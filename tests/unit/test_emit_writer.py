"""
The writer: stdout as UTF-8 bytes, --output files atomic and 0600, the git work-tree warning.
"""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from spatiafi_ops._errors import OutputError
from spatiafi_ops._models import AppCredentials, Variable
from spatiafi_ops.emit import (
    build_variables,
    find_git_work_tree,
    render,
    render_dotenv,
    write,
    write_file,
)

CREDENTIALS = AppCredentials("client-0001", "s3cr3t-Value-0123456789")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(name="outside_git")
def _outside_git(tmp_path: Path) -> Path:
    if find_git_work_tree(tmp_path / "x") is not None:
        pytest.skip("the temp directory is inside a git work tree")
    return tmp_path


@pytest.mark.parametrize("output", [None, "-"])
def test_product_goes_to_stdout_without_output_or_with_dash(output: str | None) -> None:
    """
    No --output, or --output -, prints the product on stdout.
    """
    stdout = io.StringIO()
    rendered = render("shell", build_variables(CREDENTIALS))
    assert write(rendered, stdout=stdout, output=output) == ()
    assert stdout.getvalue() == rendered.text


def test_stdout_gets_utf8_bytes_whatever_the_stream_encoding() -> None:
    """
    A latin-1 stdout still receives the value's exact UTF-8 bytes, not an encoding error.
    """
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")
    write(render("json", [Variable("A", "€😀", secret=True)]), stdout=stream)
    assert raw.getvalue() == '{"A": "€😀"}\n'.encode()


def test_output_file_is_created_0600(outside_git: Path) -> None:
    """
    SPEC §4: --output files are created with mode 0600, whatever the umask.
    """
    path = outside_git / "creds.env"
    rendered = render("dotenv", build_variables(CREDENTIALS))
    assert write(rendered, stdout=io.StringIO(), output=path) == ()
    assert _mode(path) == 0o600
    assert path.read_text() == rendered.text


def test_output_file_is_replaced_atomically(outside_git: Path) -> None:
    """
    An existing file is replaced by rename (new inode, 0600), and no temp file remains.
    """
    path = outside_git / "creds.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    before = path.stat().st_ino
    write_file(path, render_dotenv(build_variables(CREDENTIALS)))
    assert path.stat().st_ino != before
    assert _mode(path) == 0o600
    assert "OLD" not in path.read_text()
    assert [p.name for p in outside_git.iterdir()] == ["creds.env"]


def test_output_into_missing_directory_is_an_output_error(outside_git: Path) -> None:
    """
    An unwritable --output is exit 5 material, naming the path.
    """
    path = outside_git / "missing" / "creds.env"
    with pytest.raises(OutputError, match="missing"):
        write(render("json", []), output=path)


@pytest.mark.parametrize("marker", ["dir", "file"])
def test_output_inside_a_git_work_tree_is_warned(tmp_path: Path, marker: str) -> None:
    """
    A .git directory (or a worktree's .git file) above the path triggers a logged notice.
    """
    if marker == "dir":
        (tmp_path / ".git").mkdir()
    else:
        (tmp_path / ".git").write_text("gitdir: /elsewhere\n")
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / ".env"
    with capture_logs() as logs:
        notices = write(render("dotenv", build_variables(CREDENTIALS)), output=path)
    assert [n.event for n in notices] == ["output_in_git_work_tree"]
    assert str(tmp_path) in notices[0].message
    assert [entry["event"] for entry in logs] == ["output_in_git_work_tree"]
    assert _mode(path) == 0o600


def test_no_warning_outside_a_git_work_tree(outside_git: Path) -> None:
    """
    Outside any work tree the write is silent.
    """
    with capture_logs() as logs:
        assert write_file(outside_git / "f", "x") == ()
    assert logs == []


def test_render_notices_are_logged_by_write() -> None:
    """
    Format notices (gitlab's masking caveat) are logged once, by write().
    """
    with capture_logs() as logs:
        notices = write(render("gitlab", build_variables(CREDENTIALS)), stdout=io.StringIO())
    assert [entry["event"] for entry in logs] == ["gitlab_masking_unavailable"]
    assert [n.event for n in notices] == ["gitlab_masking_unavailable"]
    assert CREDENTIALS.client_secret not in str(logs)


def test_stdout_is_required_when_something_must_be_printed() -> None:
    """
    The library never picks sys.stdout itself: a missing stream is a caller error.
    """
    with pytest.raises(ValueError, match="stdout"):
        write(render("shell", build_variables(CREDENTIALS)))
