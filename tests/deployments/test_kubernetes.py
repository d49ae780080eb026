"""
Kubernetes as a pod sees it (tests/deployments/kubernetes.py): a Secret volume read through
kubelet's links, and the profile on a volume that every mount hands to the pod's fsGroup.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output, record_secret

from .kubernetes import (
    REPO,
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


CRONJOB = REPO / "examples" / "kubernetes" / "rotator-cronjob.yaml"
LOGIN_SECRET = {"username": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD}


def _containers(manifest: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """
    Return the pod spec of the CronJob and its containers in the order kubelet runs them.
    """
    pod = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod, [*pod.get("initContainers", []), *pod["containers"]]


def _container_env(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def test_the_cronjob_runs_as_written(
    node_dir: Path, spatiafi_emulator: EmulatorHandle, moto_endpoint: str
) -> None:
    """examples/kubernetes/rotator-cronjob.yaml, its containers' args and env as written, as a
    random uid in its fsGroup with no HOME, the volume mounted with that fsGroup at each run,
    AWS Secrets Manager from moto (IRSA's credentials as variables), the auth URL the
    emulator's: the first run creates and publishes, a run 31 days later rotates, the next
    revokes, and a consumer reads the secret every time."""
    manifest = yaml.safe_load(CRONJOB.read_text(encoding="utf-8"))
    pod_spec, containers = _containers(manifest)
    fs_group = int(pod_spec["securityContext"]["fsGroup"])
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    volume = persistent_volume(node_dir / "state", fs_group)
    pod = Pod.random(fs_group=fs_group)
    aws = _aws_env(node_dir, moto_endpoint)
    results = []
    created: dict[int, str] = {}
    for day in (0, 1, 31, 32):
        spatiafi_emulator.set_clock_offset(day * 86400)
        mount_with_fs_group(volume, fs_group)
        for container in containers:
            (mount,) = container["volumeMounts"]
            args = [arg.replace(mount["mountPath"], str(volume)) for arg in container["args"]]
            env = {
                **_container_env(container, {"spatiafi-login": LOGIN_SECRET}),
                **aws,
                "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
                "SPATIAFI_TEST_CLOCK_OFFSET": str(day * 86400),
            }
            code, out, events = _run(pod, args, env)
            assert code == 0, (day, container["name"], events)
            result = json.loads(out)
            results.append((day, container["name"], result["action"], result["revoked_client_ids"]))
            created.setdefault(day, result["client_id"])
        consumer = _consumer_token(aws, spatiafi_emulator)
        record_secret(consumer)
    # The grace is over on day 32: whichever verb runs first (the initContainer's ensure)
    # finishes the due revocation, of the day-0 client and nothing else.
    assert [(day, name, action) for day, name, action, _ in results] == [
        (0, "ensure", "created"),
        (0, "rotate", "unchanged"),
        (1, "ensure", "unchanged"),
        (1, "rotate", "unchanged"),
        (31, "ensure", "unchanged"),
        (31, "rotate", "rotated"),
        (32, "ensure", "unchanged"),
        (32, "rotate", "unchanged"),
    ]
    revoked = [(day, name, ids) for day, name, _, ids in results if ids]
    assert len(revoked) == 1
    assert revoked[0] == (32, "ensure", [created[0]])
    assert len(spatiafi_emulator.clients()) == 1  # the old client revoked after the grace


def _aws_env(node_dir: Path, endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(node_dir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(node_dir / "no-aws-credentials"),
    }


def _consumer_token(aws: dict[str, str], emulator: EmulatorHandle) -> str:
    """
    A consumer elsewhere: ``token --credentials-from aws-secretsmanager:prod/spatiafi``.
    """
    done = subprocess.run(
        [sys.executable, "-m", "spatiafi_ops", "token", "--no-cache"],
        env={
            "PATH": "/usr/bin:/bin",
            **aws,
            "SPATIAFI_AUTH_URL": emulator.url,
            "SPATIAFI_CREDENTIALS_FROM": "aws-secretsmanager:prod/spatiafi",
            "SPATIAFI_LOG_FORMAT": "json",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record_output(done.stderr)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(name="moto_endpoint", scope="module")
def _moto_endpoint() -> Iterator[str]:
    from tests.aws import moto_server

    process, url = moto_server.start()
    yield url
    moto_server.stop(process)


def test_the_consumer_pod_of_the_docs_runs(
    node_dir: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """The Pod of docs/deployments.md as written: its Secret volume laid out by the atomic
    writer with its defaultMode and fsGroup, its emptyDir /tmp, its args; the token prints."""
    from tests.docs.blocks import REPO as DOCS_REPO
    from tests.docs.blocks import fenced_blocks

    (block,) = [
        b
        for b in fenced_blocks(DOCS_REPO / "docs" / "deployments.md")
        if b.identity.endswith("::apiVersion: v1")
    ]
    pod_spec = yaml.safe_load(block.text)["spec"]
    (container,) = pod_spec["containers"]
    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}
    fs_group = int(pod_spec["securityContext"]["fsGroup"])
    pod = Pod.random(fs_group=fs_group)
    where = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        path = node_dir / mount["name"]
        if "secret" in volume:
            secret_volume(
                path,
                {"credentials.json": _credentials_json(spatiafi_emulator)},
                default_mode=int(volume["secret"]["defaultMode"]),
                fs_group=fs_group,
            )
        else:  # emptyDir: kubelet makes it 0777
            path.mkdir(mode=0o777)
            path.chmod(0o777)
        where[mount["mountPath"]] = str(path)
    mounts = re.compile("|".join(re.escape(m) for m in sorted(where, key=len, reverse=True)))
    args = [mounts.sub(lambda match: where[match[0]], arg) for arg in container["args"]]
    code, token, events = _run(pod, args, {"SPATIAFI_AUTH_URL": spatiafi_emulator.url})
    assert code == 0, events
    assert token.count(".") == 2
    record_secret(token.strip())
