"""
`make proof`, channels: every peer besides the SpatiaFi service, bounded and scrubbed like it.
AWS Secrets Manager that trickles, never ends or is reached in cleartext (moto's server and a
hostile stdlib server), sinks that leave a child behind or flood stderr, exec's environment,
outputs (own descriptors, another user's FIFO, import from a silent pipe, an unwritable
GITHUB_OUTPUT) and runner commands injected through every log format and stdout JSON.

Each row is the real CLI in its own process: its documented exit code, wall time within
deadline + 3 s, peak RSS (VmHWM) within 150 MiB, and no secret in its output, in another
process's environment, or in a log line (debug level included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from proof._common import CLI, Figure, Recorder, Section, Table, base_env, user_env
from proof._hostile_service import leaks, run_measured
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, running
from tests.aws.moto_server import start as start_moto
from tests.aws.moto_server import stop as stop_moto
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    chunked,
    head,
    json_answer,
    trickle_body,
    trickle_headers,
)

DEADLINE = 4.0
SLACK = 3.0
MAX_RSS_MIB = 150.0
AWS_NAME = "spatiafi/proof-channels"
# Every character botocore's log lines escape differently: ", \, ', non-ASCII, %.
AWKWARD = "q\"b\\s'é密%41%-" + secrets.token_urlsafe(18)
INJECTED = "x ##[stop-commands]proof-token ##[add-mask]nothing"
OUR_COMMANDS = {"error", "warning", "debug", "add-mask"}
_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Outcome:
    """
    What one row did: exit code, wall seconds, peak RSS, secrets found, other problems.
    """

    code: int
    seconds: float
    rss: float
    found: int
    problem: str = ""


def runner_commands(text: str) -> set[str]:
    """
    Return the commands a GitHub runner would obey in *text* (``::name::`` at the start of
    a line, ``##[name`` anywhere), ours excepted.
    """
    found: set[str] = set()
    for line in _BREAK.split(text):
        stripped = line.lstrip()
        if stripped.startswith("::") and "::" in stripped[2:]:
            found.add(stripped[2:].partition("::")[0].partition(" ")[0].lower())
        found |= {f"##[{name}" for name in re.findall(r"##\[([^\]\s]*)", line)}
    return found - OUR_COMMANDS


class Lab:
    """
    The emulator, moto's server and a home per row; every secret goes to the recorder.
    """

    def __init__(self, recorder: Recorder, root: Path, emulator: EmulatorHandle, moto: str):
        self.recorder = recorder
        self.root = root
        self.emulator = emulator
        self.moto = moto
        self.rows = 0

    def env(self, **extra: str) -> dict[str, str]:
        self.rows += 1
        home = self.root / f"row-{self.rows:02d}"
        env = base_env(home, self.emulator.url, SPATIAFI_DEADLINE=f"{DEADLINE:g}", **extra)
        env.update(
            AWS_ACCESS_KEY_ID="AKIATESTINGONLY00000",
            AWS_SECRET_ACCESS_KEY="testing-only-not-a-secret",
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=str(home / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
            AWS_ENDPOINT_URL=self.moto,
        )
        return env

    def with_credentials(self, env: dict[str, str]) -> str:
        """
        Create credentials in the row's profile; return their secret.
        """
        done = self.recorder.run(
            ["credentials", "create"],
            {**env, **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)},
            label="channels set-up",
        )
        if done.code != 0:
            raise RuntimeError(f"credentials create failed: {done.stderr[-300:]}")
        return self.stored_secret(env)

    def stored_secret(self, env: dict[str, str]) -> str:
        """
        Return the secret the row's profile holds, added to the leak scan.
        """
        for path in Path(env["SPATIAFI_CONFIG_DIR"]).rglob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("client_secret"), str):
                self.recorder.add_secrets([data["client_secret"]], "client secret")
                return str(data["client_secret"])
        raise RuntimeError("no stored credentials found")

    def run(self, args: list[str], env: dict[str, str], secrets_: list[str]) -> Outcome:
        code, stdout, stderr, seconds, rss = run_measured(
            self.recorder, args, env, f"channels row {self.rows}"
        )
        self.recorder.output(f"channels row {self.rows} stdout", stdout)
        return Outcome(code, seconds, rss, leaks([stdout, stderr], secrets_))


@contextmanager
def hostile(behaviour: Behaviour) -> Iterator[str]:
    with HostileServer({"/": behaviour}) as server:
        yield server.url


def aws_rows(lab: Lab) -> list[tuple[str, str, int, Callable[[], Outcome]]]:
    source = ["token", "--credentials-from", f"aws-secretsmanager:{AWS_NAME}"]
    behaviours = {
        "trickled headers (a line each 0.5 s)": trickle_headers(0.5, 400, head(200) + b"{}"),
        "trickled body (a byte each 0.5 s)": trickle_body(0.5, b'{"SecretString": "x"}' * 20),
        "endless chunked body": chunked(b'{"SecretString": "', b"x" * 65536, None, b'"}'),
    }

    def against(behaviour: Behaviour) -> Callable[[], Outcome]:
        def row() -> Outcome:
            with hostile(behaviour) as url:
                return lab.run(source, {**lab.env(), "AWS_ENDPOINT_URL": url}, [])

        return row

    def cleartext() -> Outcome:
        env = {**lab.env(), "AWS_ENDPOINT_URL": "http://192.0.2.10:8080"}  # TEST-NET-1
        return lab.run(source, env, [])

    def debug(log_format: str) -> Callable[[], Outcome]:
        def row() -> Outcome:
            env = {**lab.env(), "RUNNER_DEBUG": "1", "SPATIAFI_LOG_FORMAT": log_format}
            return lab.run(source, env, [AWKWARD])

        return row

    rows = [
        (f"AWS {name}", " ".join(source), 4, against(behaviour))
        for name, behaviour in behaviours.items()
    ]
    rows.append(("AWS endpoint http:// beyond loopback", " ".join(source), 2, cleartext))
    rows += [
        (
            f"AWS at debug (RUNNER_DEBUG=1), log format {fmt}, a secret with \" \\ ' é %",
            " ".join(source),
            3,  # the made-up client is unknown to the emulator
            debug(fmt),
        )
        for fmt in ("json", "console", "github")
    ]
    return rows


def sink_rows(lab: Lab) -> list[tuple[str, str, int, Callable[[], Outcome]]]:
    def rotate(sink: str, expect_pid: bool = False) -> Callable[[], Outcome]:
        def row() -> Outcome:
            env = {**lab.env(), **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)}
            old = lab.with_credentials(env)
            pid_file = lab.root / f"pid-{lab.rows}"
            args = [
                "credentials",
                "rotate",
                "--max-age",
                "0",
                "--grace",
                "0",
                "--publish",
                sink.format(pid=pid_file),
            ]
            outcome = lab.run(args, env, [old, DEFAULT_PASSWORD])
            lab.stored_secret(env)
            if expect_pid and pid_file.exists():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid_file.read_text()), 9)  # the setsid child outlives us
            return outcome

        return row

    return [
        (
            "sink leaves a background child holding stderr",
            "rotate --publish 'command:...; sleep 60 >&2 & exit 0'",
            0,
            rotate("command:cat >/dev/null; sleep 60 >&2 & echo $! > '{pid}'; exit 0"),
        ),
        (
            "sink's child calls setsid and holds stderr",
            "rotate --publish 'command:...; setsid sleep 60 & exit 0'",
            0,
            rotate("command:cat >/dev/null; setsid sleep 60 & echo $! > '{pid}'; exit 0", True),
        ),
        (
            "sink floods 300 MB of stderr, then refuses",
            "rotate --publish 'command:head -c 300000000 ... >&2; exit 1'",
            5,
            rotate("command:cat >/dev/null; head -c 300000000 /dev/zero >&2; exit 1"),
        ),
    ]


def exec_rows(lab: Lab) -> list[tuple[str, str, int, Callable[[], Outcome]]]:
    def exec_env() -> Outcome:
        client = lab.emulator.create_client()
        secret = client.client_secret
        lab.recorder.add_secrets([secret], "client secret")
        creds = json.dumps({"client_id": client.client_id, "client_secret": secret})
        env = {**lab.env(), "APP_CREDS": creds, "SPATIAFI_ACTION_CREDENTIALS_JSON": creds}
        args = ["exec", "--credentials-from", "env:APP_CREDS", "--", "sh", "-c", "env"]
        code, stdout, stderr, seconds, rss = run_measured(lab.recorder, args, env, "exec env")
        token = next(
            (
                line.partition("=")[2]
                for line in stdout.splitlines()
                if line.startswith("SPATIAFI_ACCESS_TOKEN=")
            ),
            "",
        )
        lab.recorder.add_secrets([token], "access token")
        lab.recorder.output("exec env stderr", stderr)
        problem = "APP_CREDS in CMD's environment" if "APP_CREDS=" in stdout else ""
        return Outcome(code, seconds, rss, leaks([stdout, stderr], [secret]), problem)

    return [
        (
            "exec --credentials-from env:NAME (and the actions' JSON set)",
            "exec --credentials-from env:APP_CREDS -- sh -c env",
            0,
            exec_env,
        )
    ]


def output_rows(lab: Lab) -> list[tuple[str, str, int, Callable[[], Outcome]]]:
    def stdout_to_file() -> Outcome:
        env = lab.env()
        lab.with_credentials(env)
        target = lab.root / f"token-{lab.rows}.txt"
        started = time.perf_counter()
        argv = [*CLI, "token", "--output", "/dev/stdout"]
        lab.recorder.check_argv(argv)
        with target.open("wb") as handle:
            done = subprocess.run(
                argv, env=env, stdout=handle, stderr=subprocess.PIPE, timeout=60, check=False
            )
        token = target.read_text().strip()
        # The file is the proof's own capture of `token`'s stdout, an intended secret output
        # (excluded from the scan as stdout); it goes, so the file scan does not read it.
        target.unlink()
        lab.recorder.add_secrets([token], "access token")
        lab.recorder.output("stdout to file stderr", done.stderr)
        problem = "" if token.count(".") == 2 else "no token in the file"
        return Outcome(done.returncode, time.perf_counter() - started, 0.0, 0, problem)

    def planted_fifo() -> Outcome:
        if os.geteuid() != 0:
            return Outcome(5, 0.0, 0.0, 0, "skipped: chown needs root")
        env = lab.env()
        lab.with_credentials(env)
        fifo = lab.root / f"planted-{lab.rows}.pipe"
        os.mkfifo(fifo, 0o666)
        os.chown(fifo, 65534, 65534)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            outcome = lab.run(["token", "--output", str(fifo)], env, [])
            try:
                got = os.read(reader, 4096)
            except BlockingIOError:
                got = b""
        finally:
            os.close(reader)
        outcome.problem = "the planted FIFO got data" if got else ""
        return outcome

    def silent_fifo() -> Outcome:
        env = lab.env()
        fifo = lab.root / f"silent-{lab.rows}.pipe"
        os.mkfifo(fifo, 0o600)
        return lab.run(["credentials", "import", str(fifo)], env, [])

    def unwritable_github_output() -> Outcome:
        env = {**lab.env(), **user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)}
        env["GITHUB_OUTPUT"] = str(lab.root / "no-such-dir" / "output")
        before = lab.emulator.count("clients")
        outcome = lab.run(["credentials", "create", "--format", "github"], env, [DEFAULT_PASSWORD])
        if lab.emulator.count("clients") != before:
            outcome.problem = "a client was created"
        return outcome

    return [
        (
            "token --output /dev/stdout, stdout redirected to a file",
            "token --output /dev/stdout > file",
            0,
            stdout_to_file,
        ),
        (
            "--output: a FIFO another user planted, with a reader",
            "token --output /tmp/planted.pipe",
            5,
            planted_fifo,
        ),
        ("credentials import FIFO that nothing writes", "credentials import FIFO", 5, silent_fifo),
        (
            "--format github, GITHUB_OUTPUT unwritable",
            "credentials create --format github",
            5,
            unwritable_github_output,
        ),
    ]


def injection_rows(lab: Lab) -> list[tuple[str, str, int, Callable[[], Outcome]]]:
    detail = {"detail": f"{INJECTED}\n::stop-commands::proof-token-2"}

    def through(log_format: str) -> Callable[[], Outcome]:
        def row() -> Outcome:
            with HostileServer({"/api/v1/auth/jwt/token": json_answer(400, detail)}) as server:
                env = base_env(lab.root / f"inject-{log_format}", server.url)
                env.update(
                    GITHUB_ACTIONS="true",
                    RUNNER_DEBUG="1",
                    SPATIAFI_LOG_FORMAT=log_format,
                    SPATIAFI_CLIENT_ID=str(uuid.uuid4()),
                    SPATIAFI_CLIENT_SECRET=secrets.token_urlsafe(32),
                )
                lab.recorder.add_secrets([env["SPATIAFI_CLIENT_SECRET"]], "client secret")
                code, stdout, stderr, seconds, rss = run_measured(
                    lab.recorder, ["token", "--no-cache"], env, f"inject {log_format}"
                )
            obeyed = runner_commands(stdout + stderr)
            problem = f"runner would obey {sorted(obeyed)}" if obeyed else ""
            found = leaks([stdout, stderr], [env["SPATIAFI_CLIENT_SECRET"]])
            return Outcome(code, seconds, rss, found, problem)

        return row

    def show() -> Outcome:
        env = lab.env()
        body = {
            "client_id": str(uuid.uuid4()),
            "client_secret": secrets.token_urlsafe(32),
            "user_id": INJECTED,
        }
        lab.recorder.add_secrets([body["client_secret"]], "client secret")
        imported = lab.recorder.run(
            ["credentials", "import", "-"], env, label="inject import", input=json.dumps(body)
        )
        code, stdout, stderr, seconds, rss = run_measured(
            lab.recorder, ["credentials", "show"], env, "inject show"
        )
        obeyed = runner_commands(imported.stdout + stdout + stderr)
        problem = f"runner would obey {sorted(obeyed)}" if obeyed else ""
        return Outcome(code, seconds, rss, leaks([stdout], [body["client_secret"]]), problem)

    rows = [
        (
            f"a service's ##[stop-commands], log format {fmt}, under Actions at debug",
            "token (400 with the commands in its detail)",
            4,
            through(fmt),
        )
        for fmt in ("json", "console", "github")
    ]
    rows.append(("a user_id holding ##[stop-commands], stdout JSON", "credentials show", 0, show))
    return rows


def channels(recorder: Recorder, root: Path) -> Section:
    """
    Run every row; return the section with its table and the figure of its goal.
    """
    section = Section("Channels: AWS, sinks, exec, outputs, runner commands")
    root.mkdir(parents=True, exist_ok=True)
    recorder.add_secrets([AWKWARD, DEFAULT_PASSWORD], "client secret")
    moto, moto_url = start_moto()
    table: list[list[str]] = []
    missed = 0
    try:
        with running() as emulator:
            lab = Lab(recorder, root, emulator, moto_url)
            _publish_awkward(moto_url, emulator.url)
            rows = [
                *aws_rows(lab),
                *sink_rows(lab),
                *exec_rows(lab),
                *output_rows(lab),
                *injection_rows(lab),
            ]
            for name, command, expect, run in rows:
                outcome = run()
                within = outcome.seconds <= DEADLINE + SLACK
                light = outcome.rss <= MAX_RSS_MIB
                met = (
                    outcome.code == expect
                    and within
                    and light
                    and outcome.found == 0
                    and not outcome.problem
                )
                missed += not met
                verdict = ("yes" if met else "**NO**") + (
                    f" ({outcome.problem})" if outcome.problem else ""
                )
                table.append(
                    [
                        name,
                        f"`{command}`",
                        f"{expect} / {outcome.code}",
                        f"{outcome.seconds:.1f}",
                        f"{outcome.rss:.0f}",
                        str(outcome.found),
                        verdict,
                    ]
                )
    finally:
        stop_moto(moto)
    section.figures.append(
        Figure(
            f"rows with the documented exit code, within deadline + {SLACK:g} s, within "
            f"{MAX_RSS_MIB:g} MiB, 0 secrets found, nothing obeyed or harmed",
            f"{len(table) - missed}/{len(table)}",
            "all",
            missed == 0,
        )
    )
    section.tables.append(
        Table(
            [
                "channel",
                "command",
                "exit expected / actual",
                "wall s",
                "peak RSS MiB",
                "secrets found",
                "met",
            ],
            table,
        )
    )
    section.notes += [
        f"Each row is the CLI in its own process with --deadline {DEADLINE:g}s; peak RSS is "
        "its VmHWM sampled every 10 ms (0: not sampled, the row redirects stdout itself). "
        "AWS is moto's server (tests/aws/moto_server.py) or a hostile stdlib server on "
        "127.0.0.1 (tests/hostile_server.py); the cleartext row names TEST-NET-1, refused "
        "before any connection.",
        "Secrets looked for: the row's client secrets, the user's password and, for AWS at "
        "debug, a secret holding \" \\ ' é 密 and % (published to moto by this process), each "
        "in 7 spellings and every 12-character piece; the whole-run leak scan (other "
        "processes' environments, files, every output) reads them too.",
        "Runner commands: `::name::` at the start of a line and `##[name` anywhere "
        "(actions/runner ActionCommand.cs TryParseV2, TryParse), ours (error, warning, "
        "debug, add-mask) excepted, in stdout and stderr.",
    ]
    return section


def _publish_awkward(moto_url: str, auth_url: str) -> None:
    """
    Put a made-up client whose secret botocore escapes every way into moto (library call).
    """
    from spatiafi_ops._aws import SecretsManagerSink
    from spatiafi_ops._models import AppCredentials, Payload

    saved = {name: os.environ.get(name) for name in _AWS_VARIABLES}
    os.environ.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="AKIATESTINGONLY00000",
        AWS_SECRET_ACCESS_KEY="testing-only-not-a-secret",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        credentials = AppCredentials(
            client_id=str(uuid.uuid4()), client_secret=AWKWARD, auth_url=auth_url
        )
        SecretsManagerSink(AWS_NAME).publish(Payload("default", credentials, None), timeout=30)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
)
