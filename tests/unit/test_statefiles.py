"""
Reading state files: only a small regular file of ours, private; never a link, never a wait.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops._errors import CredentialFileError, InsecurePermissions
from spatiafi_ops._statefiles import MAX_STATE_BYTES, check_private_dir, read_private_file

pytestmark = pytest.mark.posix("POSIX owners, modes, FIFOs, sockets and devices")
AS_ROOT = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0,
    reason="another user's files can only be made by root (os.chown)",
)
OTHER_UID = 12345


def without_hanging(call: Callable[[], Any], fifo: Path) -> Any:
    """
    Run *call*; if it is still blocked after a generous while, unblock it by opening the
    FIFO's other end, and fail: a state-file read must never wait on a FIFO.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        fd = os.open(fifo, os.O_RDWR)  # a writer and a reader: whatever blocked goes on
        thread.join(30)
        os.close(fd)
        pytest.fail(f"blocked on the FIFO {fifo}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def private(path: Path, data: bytes = b"{}", mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    """No file is not an error: the caller decides what absence means."""
    assert read_private_file(tmp_path / "nothing.json") is None


def test_a_private_regular_file_is_read_whole(tmp_path: Path) -> None:
    """Data, mode and mtime come from the one descriptor that was checked."""
    path = private(tmp_path / "f.json", b'{"a": 1}')
    found = read_private_file(path)
    assert found is not None
    assert found.data == b'{"a": 1}'
    assert found.mode == 0o600
    assert found.mtime == path.stat().st_mtime
    assert found.open_to_others is False


def test_a_fifo_is_refused_at_once_even_with_no_writer(tmp_path: Path) -> None:
    """O_NONBLOCK: a planted FIFO is named and refused, never waited on."""
    fifo = tmp_path / "app_credentials.json"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(CredentialFileError, match="named pipe") as caught:
        without_hanging(lambda: read_private_file(fifo), fifo)
    assert caught.value.path == str(fifo)


def test_a_symbolic_link_is_refused_even_to_a_private_file_of_ours(tmp_path: Path) -> None:
    """O_NOFOLLOW: a link could point a root process anywhere; never followed."""
    target = private(tmp_path / "real.json")
    link = tmp_path / "app_credentials.json"
    link.symlink_to(target)
    with pytest.raises(InsecurePermissions, match="symbolic link"):
        read_private_file(link)


def test_a_directory_is_named_as_such(tmp_path: Path) -> None:
    """A directory at the path is a clear error, not an IsADirectoryError."""
    (tmp_path / "app_credentials.json").mkdir()
    with pytest.raises(CredentialFileError, match="is a directory"):
        read_private_file(tmp_path / "app_credentials.json")


def test_a_socket_is_refused(socket_dir: Path) -> None:
    """Any non-regular file is refused by what fstat says of the opened descriptor."""
    path = socket_dir / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(CredentialFileError):
            read_private_file(path)
    finally:
        server.close()


def test_a_character_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A device node (made in the temp dir, never the real /dev) is not a state file."""
    device = tmp_path / "zero"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero: endless
    except PermissionError:
        pytest.skip("making a device node needs root")
    with pytest.raises(CredentialFileError, match=r"character device|cannot read"):
        read_private_file(device)  # "cannot read" where the temp dir is mounted nodev


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o601])
def test_a_mode_open_to_others_is_refused_unless_allowed(tmp_path: Path, mode: int) -> None:
    """Secrets readable by group or others: refused with the fix, or read when allowed."""
    path = private(tmp_path / "f.json", mode=mode)
    with pytest.raises(InsecurePermissions, match="chmod 600"):
        read_private_file(path)
    found = read_private_file(path, allow_insecure=True)
    assert found is not None
    assert found.open_to_others is True


def test_the_fix_in_the_message_can_be_given(tmp_path: Path) -> None:
    """The store names its own fix (credentials import) instead of a bare chmod."""
    path = private(tmp_path / "f.json", mode=0o644)
    with pytest.raises(InsecurePermissions, match="run 'import it'"):
        read_private_file(path, fix="run 'import it'")


@AS_ROOT
def test_another_users_file_is_refused_even_when_insecure_is_allowed(tmp_path: Path) -> None:
    """--allow-insecure-permissions is about modes; another owner is never trusted."""
    path = private(tmp_path / "f.json")
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePermissions, match=f"uid {OTHER_UID}"):
        read_private_file(path, allow_insecure=True)


def test_a_file_larger_than_any_state_file_is_refused(tmp_path: Path) -> None:
    """The size is capped: a huge file is not read whole."""
    path = private(tmp_path / "f.json", b" " * (MAX_STATE_BYTES + 1))
    with pytest.raises(CredentialFileError, match="larger than"):
        read_private_file(path)
    assert read_private_file(private(path, b" " * MAX_STATE_BYTES)) is not None


def test_directory_checks(tmp_path: Path) -> None:
    """Ours and not writable by others passes (0700, 0755); 0775 and 0777 do not."""
    for mode, ok in ((0o700, True), (0o755, True), (0o775, False), (0o777, False)):
        directory = tmp_path / f"d{mode:o}"
        directory.mkdir()
        directory.chmod(mode)
        if ok:
            check_private_dir(directory)
        else:
            with pytest.raises(InsecurePermissions, match="writable by group or others"):
                check_private_dir(directory)
    check_private_dir(tmp_path / "missing")  # nothing there yet: nothing to refuse
