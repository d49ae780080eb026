"""
Kubernetes as a pod sees it (tests/deployments/kubernetes.py): a Secret volume read through
kubelet's links, and the profile on a volume that every mount hands to the pod's fsGroup.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output, record_secret

from .kubernetes import (
    Pod,
    container_env,
    mount_with_fs_group,
    needs_root,
    persistent_volume,
    secret_volume,
    update_secret,
)

pytestmark = [needs_root, pytest.mark.posix("uids, groups, modes and links of a Linux node")]

FS_GROUP = 10001


def _credentials_json(emulator: EmulatorHandle) -> bytes:
    created = emulator.create_client()
    record_secret(created.client_secret)
    return json.dumps(
        {"client_id": created.client_id, "client_secret": created.client_secret}
    ).encode()


def _run(pod: Pod, args: list[str], env: dict[str, str]) -> tuple[int, str, list[dict[str, str]]]:
    done = pod.run([*pod.spatiafi_ops(), *args], container_env(env))
    record_output(done.stderr)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return done.returncode, done.stdout, events


@pytest.mark.parametrize(
    ("default_mode", "fs_group"),
    [(0o644, None), (0o400, FS_GROUP)],
    ids=["defaultMode-0644", "defaultMode-0400-fsGroup"],
)
def test_a_mounted_secret_is_read_through_kubelet_s_links(
    node_dir: Path, spatiafi_emulator: EmulatorHandle, default_mode: int, fs_group: int | None
) -> None:
    """--credentials-from file: follows KEY -> ..data/KEY -> ..<timestamp>/KEY, with no flag,
    and follows an update of the Secret (a new ..data) at the next run."""
    volume = secret_volume(
        node_dir / "secret",
        {"credentials.json": _credentials_json(spatiafi_emulator)},
        default_mode=default_mode,
        fs_group=fs_group,
    )
    pod = Pod.random(fs_group=fs_group)
    (node_dir / "cache").mkdir(mode=0o700)
    os.chown(node_dir / "cache", pod.uid, pod.gid)
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_CREDENTIALS_FROM": f"file:{volume}/credentials.json",
        "SPATIAFI_CACHE_DIR": str(node_dir / "cache"),
        "SPATIAFI_LOG_FORMAT": "json",
    }
    code, token, events = _run(pod, ["token", "--no-cache"], env)
    assert code == 0, events
    assert token.count(".") == 2
    record_secret(token.strip())

    update_secret(volume, {"credentials.json": _credentials_json(spatiafi_emulator)})
    code, again, events = _run(pod, ["token", "--no-cache"], env)
    assert code == 0, events
    assert again != token


def test_a_secret_file_others_can_change_is_refused(
    node_dir: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """Links are followed to a file only root or we can change: o+w is exit 5, naming it."""
    volume = secret_volume(
        node_dir / "secret",
        {"credentials.json": _credentials_json(spatiafi_emulator)},
        default_mode=0o646,
    )
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_CREDENTIALS_FROM": f"file:{volume}/credentials.json",
        "SPATIAFI_LOG_FORMAT": "json",
    }
    code, _, events = _run(Pod.random(), ["token", "--no-cache"], env)
    assert code == 5
    assert "can be changed by group or others (mode 0646)" in events[-1]["message"]


def test_the_store_s_own_files_keep_refusing_links(
    node_dir: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """The profile's credential file as a link into a Secret volume: still exit 5."""
    volume = secret_volume(
        node_dir / "secret", {"app_credentials.json": _credentials_json(spatiafi_emulator)}
    )
    pod = Pod.random()
    config = node_dir / "config"
    config.mkdir(mode=0o700)
    (config / "app_credentials.json").symlink_to(volume / "app_credentials.json")
    os.lchown(config / "app_credentials.json", pod.uid, pod.gid)
    os.chown(config, pod.uid, pod.gid)
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_CONFIG_DIR": str(config),
        "SPATIAFI_LOG_FORMAT": "json",
    }
    code, _, events = _run(pod, ["token", "--no-cache"], env)
    assert code == 5
    assert "is a symbolic link" in events[-1]["message"]


@pytest.mark.parametrize("policy", ["Always", "OnRootMismatch"])
def test_a_profile_on_an_fs_group_volume_works_from_the_second_run_on(
    node_dir: Path, spatiafi_emulator: EmulatorHandle, policy: str
) -> None:
    """Every mount makes the volume's dirs g+rwx setgid and files g+rw for the fsGroup (a
    group the pod is in): accepted with one warning per run, never exit 5."""
    volume = persistent_volume(node_dir / "state", FS_GROUP)
    pod = Pod.random(fs_group=FS_GROUP)
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
        "SPATIAFI_LOG_FORMAT": "json",
    }
    where = [f"--config-dir={volume}/config", f"--cache-dir={volume}/cache"]
    code, _, events = _run(pod, [*where, "credentials", "ensure"], env)
    assert code == 0, events
    for run in range(2):
        time.sleep(1.0)  # --max-age=1s: the credentials are due
        mount_with_fs_group(volume, FS_GROUP, policy=policy)
        code, out, events = _run(
            pod, [*where, "credentials", "rotate", "--max-age=1s", "--grace=0s"], env
        )
        assert code == 0, (run, events)
        assert json.loads(out)["action"] == "rotated", (out, events)
        mount_with_fs_group(volume, FS_GROUP, policy=policy)
        code, token, events = _run(pod, [*where, "token"], env)
        assert code == 0, (run, events)
        record_secret(token.strip())
        warned = [e["path"] for e in events if e["event"] == "shared_with_own_group"]
        assert len(warned) == len(set(warned)), "one warning per directory and run"


def test_a_directory_writable_by_a_group_we_are_not_in_is_refused_whatever_the_flags(
    node_dir: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """The same volume seen by a pod outside its fsGroup: exit 5, and
    --allow-insecure-permissions does not relax a check on the tool's own directories."""
    volume = persistent_volume(node_dir / "state", FS_GROUP)
    member = Pod.random(fs_group=FS_GROUP)
    env = {
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        "SPATIAFI_USERNAME": DEFAULT_EMAIL,
        "SPATIAFI_PASSWORD": DEFAULT_PASSWORD,
        "SPATIAFI_LOG_FORMAT": "json",
    }
    where = [f"--config-dir={volume}/config", f"--cache-dir={volume}/cache"]
    assert _run(member, [*where, "credentials", "ensure"], env)[0] == 0
    mount_with_fs_group(volume, FS_GROUP)
    outsider = Pod(uid=member.uid, gid=member.gid, fs_group=FS_GROUP + 1)
    for flags in ([], ["--allow-insecure-permissions"]):
        code, _, events = _run(outsider, [*flags, *where, "token"], env)
        assert code == 5, events
        assert "writable by group or others" in events[-1]["message"]
