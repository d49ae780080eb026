"""
`make proof`, AWS Secrets Manager as the store (docs/aws-rotation.md): three replicas with
their own config dirs rotating one secret while a consumer mints from it, SIGKILL at every
step of a change finished by another replica, the rotation function driven as Secrets
Manager drives it, and 20 % injected AWS faults. moto's server and the emulator, 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from proof._common import Figure, Recorder, Section, Table, base_env, user_env
from proof._servers import emulator
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from spatiafi_ops.rotation import CRASH_ENV, CRASH_POINTS
from tests.aws.moto_server import start as start_moto
from tests.aws.moto_server import stop as stop_moto

ROOT = Path(__file__).resolve().parent.parent
FAULTY_PROXY = ROOT / "tests" / "aws" / "faulty_proxy.py"
STEPS = tuple(step for step in CRASH_POINTS if step not in ("publishing", "published"))
GRACE = "2s"
ROTATE_NOW = ["credentials", "rotate", "--max-age", "0", "--grace", GRACE]
FAULT_RATE = 0.2
STAND_IN = "arn:aws:lambda:eu-west-1:123456789012:function:spatiafi-rotation"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIATESTINGONLY00000",
    "AWS_SECRET_ACCESS_KEY": "testing-only-not-a-secret",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def _server(script: Path, *args: str) -> Iterator[str]:
    """
    Run a tests/aws helper script that prints its port; yield its URL; stop it at the end.
    """
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}"
    finally:
        process.stdin.close()
        process.wait(timeout=30)


class _Secret:
    """
    One secret of the run: its environment for the CLI, and a boto3 reader of its labels.
    """

    def __init__(self, root: Path, aws_url: str, service: EmulatorHandle) -> None:
        import boto3

        self.name = f"proof/{uuid.uuid4().hex[:12]}"
        self.root = root
        self.service = service
        self.aws = {
            **AWS_ENV,
            "AWS_CONFIG_FILE": str(root / "aws-config"),
            "AWS_ENDPOINT_URL": aws_url,
        }
        self.reader = boto3.session.Session(
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        ).client("secretsmanager", endpoint_url=aws_url)

    def env(self, replica: str, **extra: str) -> dict[str, str]:
        return base_env(
            self.root / replica,
            self.service.url,
            SPATIAFI_STORE=f"aws-secretsmanager:{self.name}",
            **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD),
            **self.aws,
            **extra,
        )

    def labels(self) -> dict[str, str]:
        found = {}
        versions = self.reader.list_secret_version_ids(SecretId=self.name)["Versions"]
        for version in versions:
            for label in version.get("VersionStages", []):
                value = self.reader.get_secret_value(
                    SecretId=self.name, VersionId=version["VersionId"]
                )
                found[label] = json.loads(value["SecretString"]).get("client_id", "planned")
        return found

    def live(self) -> set[str]:
        return {client["client_id"] for client in self.service.clients()}


def _replicas(recorder: Recorder, root: Path, aws_url: str, rounds: int) -> list[Figure]:
    with emulator(recorder) as (service, _):
        secret = _Secret(root / "replicas", aws_url, service)
        created = recorder.run(["credentials", "create"], secret.env("r0"), label="store create")
        codes: list[int] = []
        actions: list[str] = []
        mints: list[int] = []
        done = threading.Event()

        def replica(name: str) -> None:
            for _ in range(rounds):
                run = recorder.run(ROTATE_NOW, secret.env(name), label="store replica")
                codes.append(run.code)
                if run.code == 0:
                    result = json.loads(run.stdout)
                    # unchanged, yet its own new client revoked: another replica switched first
                    lost = result["action"] == "unchanged" and result["revoked_client_ids"]
                    actions.append("lost the swap" if lost else result["action"])

        def consumer() -> None:
            while not done.is_set():
                run = recorder.run(
                    ["token", "--no-cache"],
                    secret.env("consumer"),
                    label="store consumer",
                    intended_stdout=True,
                )
                mints.append(run.code)

        threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(3)]
        reader = threading.Thread(target=consumer)
        reader.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        reader.join()
        time.sleep(2.0)  # the grace of the last rotation
        converged = recorder.run(
            ["credentials", "rotate"], secret.env("r0"), label="store converge"
        )
        held = secret.labels()
        live = secret.live()
    return [
        Figure(
            f"3 replicas x {rounds} rotations of one secret, no shared lock: runs exiting 0",
            f"{codes.count(0)}/{len(codes)} ("
            + ", ".join(f"{actions.count(a)} {a}" for a in sorted(set(actions)))
            + ")",
            "all",
            created.code == 0 and codes.count(0) == len(codes),
        ),
        Figure(
            "consumer mints (`token --no-cache`) that failed meanwhile",
            f"{len(mints) - mints.count(0)} of {len(mints)}",
            "0",
            bool(mints) and mints.count(0) == len(mints),
        ),
        Figure(
            "live clients after one convergence run (the one AWSCURRENT holds)",
            str(len(live)),
            "1",
            converged.code == 0 and live == {held.get("AWSCURRENT")},
        ),
    ]


def _kills(recorder: Recorder, root: Path, aws_url: str) -> tuple[list[Figure], Table]:
    rows = []
    lost = extra = over_one = 0
    rotate = [*ROTATE_NOW[:-1], "0"]  # no grace: the kill reaches the revocation steps
    for step in STEPS:
        with emulator(recorder) as (service, _):
            secret = _Secret(root / f"kill-{step}", aws_url, service)
            # one machine per account: a lost create's client may be revoked (the secret
            # keeps --exclusive-account for every later run)
            recorder.run(
                ["credentials", "create", "--exclusive-account"],
                secret.env("first"),
                label="store create",
            )
            killed = recorder.run(
                rotate, secret.env("killed", **{CRASH_ENV: step}), label="store killed"
            )
            mints = recorder.run(
                ["token", "--no-cache"],
                secret.env("reader"),
                label="store read",
                intended_stdout=True,
            )
            creates = service.count("POST /api/v1/clients/")
            recovered = recorder.run(rotate, secret.env("other"), label="store recover")
            made = service.count("POST /api/v1/clients/") - creates
            recorder.run(["credentials", "rotate"], secret.env("other"), label="store converge")
            held = secret.labels()
            stray = secret.live() - {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
        lost += mints.code != 0
        over_one += made > 1
        extra += len(stray)
        rows.append(
            [
                step,
                str(killed.code),
                "yes" if mints.code == 0 else "NO",
                str(recovered.code),
                str(made),
                str(len(stray)),
            ]
        )
    figures = [
        Figure(
            f"SIGKILL at each of {len(STEPS)} steps: AWSCURRENT lost (does not mint)",
            str(lost),
            "0",
            lost == 0,
        ),
        Figure(
            "recoveries by another replica that created more than one client",
            str(over_one),
            "0",
            over_one == 0,
        ),
        Figure(
            "live clients neither AWSCURRENT nor AWSPREVIOUS holds, after convergence",
            str(extra),
            "0",
            extra == 0,
        ),
    ]
    table = Table(
        ["killed at", "exit", "AWSCURRENT mints", "recovery exit", "creates", "stray clients"], rows
    )
    return figures, table


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _handler(recorder: Recorder, root: Path, aws_url: str) -> list[Figure]:
    """
    Two rotations in a row through the rotation function, every step run twice.
    """
    from spatiafi_ops.aws_rotation import handler

    with emulator(recorder) as (service, _):
        secret = _Secret(root / "handler", aws_url, service)
        recorder.run(["credentials", "create"], secret.env("first"), label="store create")
        most_live = 0
        creates = service.count("POST /api/v1/clients/")
        env = {k: v for k, v in secret.env("lambda").items() if k != "SPATIAFI_STORE"}
        with _environ(env):
            for _ in range(2):
                token = str(uuid.uuid4())
                with contextlib.suppress(secret.reader.exceptions.ResourceNotFoundException):
                    secret.reader.rotate_secret(
                        SecretId=secret.name,
                        ClientRequestToken=token,
                        RotationLambdaARN=STAND_IN,
                        RotationRules={"AutomaticallyAfterDays": 30},
                    )
                for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
                    for _ in range(2):
                        handler(
                            {"SecretId": secret.name, "ClientRequestToken": token, "Step": step},
                            None,
                        )
                        most_live = max(most_live, len(secret.live()))
        made = service.count("POST /api/v1/clients/") - creates
        held = secret.labels()
        live = secret.live()
    return [
        Figure(
            "rotation function, 2 rotations with every step retried: clients created",
            str(made),
            "2",
            made == 2,
        ),
        Figure(
            "rotation function: most clients live at any time",
            str(most_live),
            "≤ 2",
            most_live <= 2,
        ),
        Figure(
            "rotation function: end state (AWSCURRENT, AWSPREVIOUS live; nothing else)",
            "as the CLI"
            if live == {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
            else "differs",
            "as the CLI",
            live == {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
            and set(held) == {"AWSCURRENT", "AWSPREVIOUS"},
        ),
    ]


def _faults(recorder: Recorder, root: Path, aws_url: str, runs: int, seed: int) -> list[Figure]:
    """
    Rotations through a proxy that fails 20 % of AWS requests; a failed run is run again.
    """
    converged = 0
    reruns = 0
    with (
        emulator(recorder) as (service, _),
        _server(FAULTY_PROXY, aws_url, str(FAULT_RATE), str(seed)) as proxy,
    ):
        secret = _Secret(root / "faults", aws_url, service)
        secret.aws["AWS_ENDPOINT_URL"] = proxy
        for index in range(runs + 1):
            args = ["credentials", "create"] if index == 0 else ROTATE_NOW
            for _ in range(6):
                run = recorder.run(args, secret.env("rotator"), label="store faults")
                if run.code == 0:
                    converged += index > 0
                    break
                reruns += 1
        held = secret.labels()
        stray = secret.live() - {held.get("AWSCURRENT"), held.get("AWSPREVIOUS")}
    return [
        Figure(
            f"{runs} rotations with {FAULT_RATE:.0%} of AWS requests failing: runs that converged",
            f"{converged}/{runs} ({reruns} reruns)",
            "all",
            converged == runs and not stray,
        )
    ]


def secret_store(
    recorder: Recorder, root: Path, *, rounds: int, fault_runs: int, seed: int
) -> Section:
    """
    Return the section: replicas, kills, the rotation function and AWS faults.
    """
    section = Section("AWS Secrets Manager as the store")
    process, aws_url = start_moto()
    try:
        section.figures += _replicas(recorder, root, aws_url, rounds)
        figures, table = _kills(recorder, root, aws_url)
        section.figures += figures
        section.tables.append(table)
        section.figures += _handler(recorder, root, aws_url)
        section.figures += _faults(recorder, root, aws_url, fault_runs, seed)
    finally:
        stop_moto(process)
    section.notes.append(
        "Each replica is `python -m spatiafi_ops` with its own config dir and "
        "`--store aws-secretsmanager:ID`; the consumer runs `token --no-cache` in a loop. "
        "Kills use SPATIAFI_OPS_CRASH_AT; the faults come from tests/aws/faulty_proxy.py "
        "(throttling, 500 before moto, 503 after moto processed the call)."
    )
    return section
