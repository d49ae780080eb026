"""
The writer: stdout as UTF-8 bytes, --output files atomic and 0600, the git work-tree warning.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import threading
import time
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
from tests.platforms import assert_private

POSIX = pytest.mark.posix("POSIX modes, FIFOs, sockets, device nodes and links")

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
    README: Output formats: --output files are created with mode 0600, whatever the umask.
    """
    path = outside_git / "creds.env"
    rendered = render("dotenv", build_variables(CREDENTIALS))
    assert write(rendered, stdout=io.StringIO(), output=path) == ()
    assert_private(path)
    assert path.read_text() == rendered.text


@POSIX
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
    assert_private(path)


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


class FifoReader:
    """
    A thread that reads a FIFO to its end, as a shell's `cat fifo` would.
    """

    def __init__(self, fifo: Path) -> None:
        self.data = b""
        self.fifo = fifo
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.opened.set()
        chunks: list[bytes] = []
        while True:  # until end of file after some data: no writer yet reads as b""
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:  # a writer, but nothing written yet
                chunk = b""
            if chunk:
                chunks.append(chunk)
            elif chunks:
                break
            else:
                time.sleep(0.01)
        os.close(fd)
        self.data = b"".join(chunks)

    def result(self) -> bytes:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the reader never saw the end of the data"
        return self.data


@POSIX
def test_a_fifo_with_a_reader_is_written_through_and_stays_a_fifo(tmp_path: Path) -> None:
    """--output PIPE: the reader gets the product; the FIFO is not replaced by a file."""
    fifo = tmp_path / "secrets.pipe"
    os.mkfifo(fifo, 0o600)
    reader = FifoReader(fifo)
    assert reader.opened.wait(30)
    rendered = render("dotenv", build_variables(CREDENTIALS))
    assert write(rendered, output=fifo) == ()
    assert rendered.text is not None
    assert reader.result() == rendered.text.encode()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.pipe"]


@POSIX
def test_a_fifo_that_nothing_reads_is_refused_at_once(tmp_path: Path) -> None:
    """No reader: a blocking open would wait for ever; ours fails with one sentence."""
    fifo = tmp_path / "nobody-reads"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(OutputError, match="nothing reads that named pipe"):
        write_file(fifo, "x")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@POSIX
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_proc_self_fd_of_a_pipe_is_written_through(tmp_path: Path) -> None:
    """--output /proc/self/fd/N (or /dev/stdout on a pipe) writes into the pipe."""
    read_end, write_end = os.pipe()
    try:
        write_file(f"/proc/self/fd/{write_end}", "token\n")
        os.close(write_end)
        write_end = -1
        assert os.read(read_end, 100) == b"token\n"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


@POSIX
def test_a_symlink_to_a_fifo_is_followed_to_it(tmp_path: Path) -> None:
    """A link leading to a pipe (as /dev/stdout leads to the process's pipe) writes there."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)
    reader = FifoReader(fifo)
    assert reader.opened.wait(30)
    write_file(link, "value\n")
    assert reader.result() == b"value\n"
    assert link.is_symlink()


@POSIX
def test_a_character_device_is_written_through_never_replaced(tmp_path: Path) -> None:
    """
    A device node made in the temp dir (never the real /dev): written through; it is
    still that device afterwards, not a 0600 file of secrets.
    """
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # as /dev/null
    except PermissionError:
        pytest.skip("making a device node needs root")
    try:
        write_file(device, "secret-free test value\n")
    except OutputError as exc:
        pytest.skip(f"the temp dir cannot open device nodes (nodev): {exc}")
    info = device.lstat()
    assert stat.S_ISCHR(info.st_mode)
    assert info.st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


@POSIX
@pytest.mark.parametrize("kind", ["directory", "socket", "dangling link", "link to a file"])
def test_other_targets_are_refused_and_left_alone(socket_dir: Path, kind: str) -> None:
    """Anything but a regular file, a device or a pipe: exit 5 material, nothing changed."""
    tmp_path = socket_dir  # a socket's name must fit in sun_path
    target = tmp_path / "target"
    server = None
    if kind == "directory":
        target.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
    elif kind == "dangling link":
        target.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "real").write_text("keep")
        target.symlink_to(tmp_path / "real")
    before = sorted((p.name, p.lstat().st_mode) for p in tmp_path.iterdir())
    try:
        with pytest.raises(OutputError, match=str(target)):
            write_file(target, "x")
    finally:
        if server is not None:
            server.close()
    assert sorted((p.name, p.lstat().st_mode) for p in tmp_path.iterdir()) == before
    if kind == "link to a file":
        assert (tmp_path / "real").read_text() == "keep"


@POSIX
def test_an_output_named_star_deletes_nothing_else(outside_git: Path) -> None:
    """--output 'dir/*' writes a file named '*'; other temp-looking files all stay."""
    for name in (".a.b.tmp", ".*.x.tmp", ".creds.env.1234.tmp"):
        (outside_git / name).write_text("keep")
        then = os.stat(outside_git / name).st_mtime - 3600
        os.utime(outside_git / name, (then, then))
    write_file(outside_git / "*", "value\n")
    assert sorted(p.name for p in outside_git.iterdir()) == sorted(
        ["*", ".a.b.tmp", ".*.x.tmp", ".creds.env.1234.tmp"]
    )


@POSIX
@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_ENV"])
def test_a_fifo_as_a_runner_file_is_refused_without_waiting(tmp_path: Path, variable: str) -> None:
    """The runner's files are regular files: a FIFO there is refused, nothing printed."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), variable: str(fifo)}
    (tmp_path / "out").touch()
    stdout = io.StringIO()
    rendered = render("github", build_variables(CREDENTIALS), github_env=True)
    with pytest.raises(OutputError, match=f"{variable}.*named pipe"):
        write(rendered, stdout=stdout, environ=env)
    assert stdout.getvalue() == ""
    reader = FifoReader(fifo)  # with a reader, still refused: not a regular file
    assert reader.opened.wait(30)
    with pytest.raises(OutputError, match=f"{variable}.*not a regular file"):
        write(rendered, stdout=stdout, environ=env)
    fd = os.open(fifo, os.O_WRONLY)  # let the reader finish
    os.write(fd, b"end")
    os.close(fd)
    assert reader.result() == b"end"  # nothing of ours went into it


@POSIX
def test_a_fifo_as_the_step_summary_is_skipped(tmp_path: Path) -> None:
    """The summary is optional: a FIFO there is a notice, and the outputs are written."""
    fifo = tmp_path / "summary"
    os.mkfifo(fifo, 0o600)
    output = tmp_path / "out"
    output.touch()
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(fifo)}
    notices = write(
        render("github", build_variables(CREDENTIALS)), stdout=io.StringIO(), environ=env
    )
    assert [n.event for n in notices] == ["step_summary_skipped"]
    assert "client-id" in output.read_text()


@pytest.mark.posix("FIFO ownership")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_fifo_another_user_owns_is_never_written(tmp_path: Path) -> None:
    """A named pipe another user planted (a shared sticky /tmp): refused, though someone
    reads it; the reader gets nothing."""
    fifo = tmp_path / "planted.pipe"
    os.mkfifo(fifo, 0o666)
    os.chown(fifo, 65534, 65534)  # nobody
    reader = FifoReader(fifo)
    assert reader.opened.wait(30)
    with pytest.raises(OutputError, match="owned by another user"):
        write_file(fifo, "secret-value\n")
    assert reader.data == b""


@pytest.mark.posix("the process's own descriptors")
@pytest.mark.parametrize("name", ["/dev/fd/{fd}", "/proc/self/fd/{fd}"])
def test_an_own_descriptor_is_written_whatever_it_is(tmp_path: Path, name: str) -> None:
    """--output /dev/fd/N on a regular file the caller opened (a shell's `N>file`): written
    to that descriptor, not replaced (which fails: /dev/fd is no directory of ours)."""
    if not Path(name.format(fd=0)).parent.is_dir():
        pytest.skip(f"no {Path(name).parent} here")
    target = tmp_path / "redirected"
    with target.open("wb") as handle:
        write_file(name.format(fd=handle.fileno()), "token\n")
    assert target.read_bytes() == b"token\n"
