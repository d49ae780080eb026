"""
An imitation of a Kubernetes pod, from what kubelet is documented (and coded) to do:

- a Secret volume as the atomic writer lays it out (kubernetes pkg/volume/util/
  atomic_writer.go): the payload in a hidden ``..<timestamp>`` directory, ``..data`` a link to
  it, every key a link ``KEY -> ..data/KEY``, modes from ``defaultMode``, all root's (the mount
  is read-only to the container);
- a volume after an ``fsGroup`` mount (pkg/volume/volume_linux.go, ``SetVolumeOwnership``):
  every file and directory given the fsGroup, files ``|0660``, directories ``|2770`` (setgid);
  with ``fsGroupChangePolicy: OnRootMismatch`` skipped when the root already matches;
- a container process: a random uid with no passwd entry (``runAsUser``), the fsGroup as a
  supplementary group, no ``HOME``, the working directory ``/``: nothing writable but the
  volume and ``/tmp`` (``readOnlyRootFilesystem``).

Dropping to another uid takes root: these tests run as root (CI does) and are skipped
otherwise, with the reason.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.platform != "win32":
    import pwd

REPO = Path(__file__).resolve().parents[2]
FAKE_CLOCK = Path(__file__).with_name("fake_clock")
ROOT_REASON = "drops to a random uid as kubelet's runAsUser does, which takes root"
needs_root = pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason=ROOT_REASON)

RW_MASK = 0o660  # volume_linux.go: rwMask
RO_MASK = 0o440  # roMask
EXEC_MASK = 0o110  # execMask (directories)


def random_uid() -> int:
    """
    Return a uid in the range pods use that no passwd entry names.
    """
    while True:
        uid = random.randint(100_000, 2_000_000_000)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def _executable_by_anyone(path: Path) -> bool:
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [path, *path.parents])


def interpreter() -> Path:
    """
    Return a Python of this minor version that any uid can run: the container's Python.

    The test venv's interpreter may live under a home only root can enter; the system's
    of the same version then runs the same site-packages (same ABI).
    """
    # The image's files: a checkout or venv under a directory only root can enter (a
    # mkdtemp clone) cannot be the image another uid runs.
    for image in (REPO, Path(sysconfig.get_paths()["purelib"])):
        if not _executable_by_anyone(image):
            pytest.skip(f"{image} is not reachable by other users, as an image's files must be")
    candidates = [Path(sys.executable).resolve(), Path(f"/usr/bin/python3.{sys.version_info[1]}")]
    for candidate in candidates:
        if candidate.exists() and _executable_by_anyone(candidate):
            return candidate
    pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} every uid can run")


@dataclass
class Pod:
    """
    The security context of a pod's container.
    """

    uid: int
    gid: int
    fs_group: int | None

    @classmethod
    def random(cls, *, fs_group: int | None = None) -> Pod:
        return cls(uid=random_uid(), gid=0, fs_group=fs_group)

    def groups(self) -> list[int]:
        return [self.fs_group] if self.fs_group is not None else []

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """
        Run *argv* as the container's process: its uid and groups, no HOME, cwd ``/``.
        """

        def drop() -> None:
            os.setgroups(self.groups())
            os.setgid(self.gid)
            os.setuid(self.uid)

        return subprocess.run(
            list(argv),
            env=dict(env),
            cwd="/",
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=drop,  # the point: a child with the pod's ids
        )

    def spatiafi_ops(self) -> list[str]:
        """
        Return the argv of the image's entrypoint, ``spatiafi-ops`` (with the fake clock of
        tests/deployments/fake_clock, which does nothing unless its variable is set).
        """
        start = "import sitecustomize, runpy; runpy.run_module('spatiafi_ops', run_name='__main__')"
        return [str(interpreter()), "-S", "-c", start]


def container_env(extra: Mapping[str, str]) -> dict[str, str]:
    """
    Return a container's environment: PATH, the package on the path, no HOME.
    """
    site = sysconfig.get_paths()["purelib"]
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(FAKE_CLOCK), str(REPO), site]),
        "PYTHONDONTWRITEBYTECODE": "1",  # the root file system is read-only
        **extra,
    }


@pytest.fixture(name="node_dir")
def _node_dir() -> Iterator[Path]:
    """
    A directory the node keeps volumes in: enterable by any uid (pytest's tmp is root's).
    """
    path = Path(tempfile.mkdtemp(prefix="spatiafi-node-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def secret_volume(
    path: Path,
    data: Mapping[str, bytes],
    *,
    default_mode: int = 0o644,
    fs_group: int | None = None,
) -> Path:
    """
    Lay out a Secret volume at *path* as kubelet's atomic writer does; return *path*.
    """
    path.mkdir(mode=0o755)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{random.randrange(10**9)}"
    payload = path / stamp
    payload.mkdir(mode=0o755)
    for key, value in data.items():
        (payload / key).write_bytes(value)
        (payload / key).chmod(default_mode)
    (path / "..data").symlink_to(stamp)
    for key in data:
        (path / key).symlink_to(f"..data/{key}")
    if fs_group is not None:
        mount_with_fs_group(path, fs_group, read_only=True)
    return path


def update_secret(path: Path, data: Mapping[str, bytes], *, default_mode: int = 0o644) -> None:
    """
    Swap in a new payload as the atomic writer does: a new timestamped dir, ``..data`` renamed
    over to point at it, the old dir removed.
    """
    old = os.readlink(path / "..data")
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{random.randrange(10**9)}"
    (path / stamp).mkdir(mode=0o755)
    for key, value in data.items():
        (path / stamp / key).write_bytes(value)
        (path / stamp / key).chmod(default_mode)
    (path / "..data_tmp").symlink_to(stamp)
    os.replace(path / "..data_tmp", path / "..data")
    shutil.rmtree(path / old)


def mount_with_fs_group(
    path: Path, fs_group: int, *, policy: str = "Always", read_only: bool = False
) -> bool:
    """
    Do what kubelet's ``SetVolumeOwnership`` does at a mount; return whether it walked.
    """
    mask = RO_MASK if read_only else RW_MASK
    if policy == "OnRootMismatch":
        info = os.stat(path)
        wanted = mask | EXEC_MASK
        if (
            info.st_gid == fs_group
            and stat.S_IMODE(info.st_mode) & wanted == wanted
            and info.st_mode & stat.S_ISGID
        ):
            return False
    for entry in [path, *path.rglob("*")]:
        info = entry.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue  # chown and chmod would pass through to the target
        os.chown(entry, info.st_uid, fs_group)
        extra = mask | (stat.S_ISGID | EXEC_MASK if stat.S_ISDIR(info.st_mode) else 0)
        os.chmod(entry, stat.S_IMODE(info.st_mode) | extra)
    return True


def persistent_volume(path: Path, fs_group: int) -> Path:
    """
    Return a fresh PersistentVolume at *path*, its root as a provisioner leaves it (root's,
    0755), then mounted with *fs_group*.
    """
    path.mkdir(mode=0o755)
    mount_with_fs_group(path, fs_group)
    return path
