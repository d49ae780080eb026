"""
`make proof`, hostile service: a stdlib server (tests/hostile_server.py) that trickles
headers and bodies, floods, bombs, echoes secrets in every escaping, and answers odd ids,
odd expiries, skewed clocks and a create with the current client's id. Every row is the
real CLI in its own process, with its exit code, wall time (goal: deadline + 2 s), peak
RSS (goal: 100 MiB, the child's VmHWM) and a scan of its stdout and stderr for every spelling
and every 12-character piece of the row's secrets.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from proof._common import CLI, PROCESS_TIMEOUT, Figure, Recorder, Section, Table, base_env
from spatiafi_ops import AppCredentials, Settings
from spatiafi_ops._api import BASIC_TOKEN_PATH, CLIENTS_PATH, TOKEN_PATH
from spatiafi_ops.credentials._store import Store
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    Request,
    answer,
    basic_password,
    by_method,
    chunked,
    compressed,
    echo_secret,
    escapings,
    gzip_of,
    head,
    huge_body,
    json_answer,
    skewed_token_route,
    token_body,
    trickle_body,
    trickle_headers,
)

DEADLINE = 5.0
TIMEOUT = 10.0
MAX_RSS_MIB = 100.0
FRAGMENT = 12
USERNAME = "hostile@example.com"


@dataclass
class Row:
    """
    One hostile answer, the command that meets it, and the exit code the README documents for it.
    """

    name: str
    args: list[str]
    expect: int
    routes: Callable[[], dict[str, Behaviour]] = dict
    app: bool = False  # SPATIAFI_CLIENT_ID/SECRET in the environment
    user: bool = False  # SPATIAFI_USERNAME/PASSWORD in the environment
    stored: AppCredentials | None = None
    netrc: bool = False
    check: Callable[[HostileServer, Path], str] | None = None  # "" when the row holds
    note: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


def _valid() -> bytes:
    return json.dumps(token_body()).encode()


def _after_status(body: bytes) -> bytes:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return head(200, headers)[len(b"HTTP/1.1 200 Hostile\r\n") :] + body


def _user_token() -> Behaviour:
    return json_answer(200, token_body(access_token="hostile.user.token"))


def _no_file(name: str) -> Callable[[HostileServer, Path], str]:
    def check(_server: HostileServer, home: Path) -> str:
        found = [p.name for p in home.rglob(name)]
        return f"left {', '.join(found)}" if found else ""

    return check


def _deletes(server: HostileServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "DELETE"]


def _refused_create_check(client_id: str) -> Callable[[HostileServer, Path], str]:
    """A refused create stores nothing and sends the client it named one DELETE."""

    def check(server: HostileServer, home: Path) -> str:
        sent = _deletes(server).count(CLIENTS_PATH + client_id)
        return _no_file("app_credentials.json")(server, home) or (
            "" if sent == 1 else f"{sent} DELETE(s) of the refused client"
        )

    return check


def _same_id_check(old: AppCredentials) -> Callable[[HostileServer, Path], str]:
    def check(server: HostileServer, home: Path) -> str:
        deletes = [r for r in server.requests if r.method == "DELETE"]
        held = Store(Settings(config_dir=home / "config")).read()
        problems = []
        if deletes:
            problems.append(f"revoked {len(deletes)} client(s), the profile's own included")
        if held is None or held.client_secret != old.client_secret:
            problems.append("the store no longer holds the working secret")
        return "; ".join(problems)

    return check


def _netrc_check(password: str) -> Callable[[HostileServer, Path], str]:
    def check(server: HostileServer, _home: Path) -> str:
        sent = [r for r in server.requests if password in basic_password(r)]
        return f"{len(sent)} request(s) carried the netrc password" if sent else ""

    return check


def _basic_gate(expected: str) -> Behaviour:
    """The Basic route, answering a token only to exactly our Basic credential."""

    def behave(request: Request, peer: Any) -> None:
        if request.headers.get("authorization") == expected:
            _user_token()(request, peer)
        else:
            json_answer(400, {"detail": "LOGIN_BAD_CREDENTIALS"})(request, peer)

    return behave


def rows(password: str, current: AppCredentials) -> list[Row]:
    """
    Return the table's rows, in the order shown.
    """
    token = ["token", "--no-cache"]
    pad = _valid()[:-1]
    filler = b" " * (1 << 20)
    new_id = str(uuid.uuid4())
    odd_listing = [{"client_id": i} for i in ("../../etc", "x" * 5000, 42, None, new_id)]
    revoked_id = str(uuid.uuid4())
    basic = "Basic " + base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    same_id = {"client_id": current.client_id, "client_secret": secrets.token_urlsafe(32)}
    expiry = "expires_at {} (no expires_in)"
    table = [
        Row(
            "slow headers: a header line per second, for 10 minutes",
            token,
            4,
            lambda: {TOKEN_PATH: trickle_headers(1.0, 600, _after_status(_valid()))},
            app=True,
        ),
        Row(
            "slow body: a byte per second",
            token,
            4,
            lambda: {TOKEN_PATH: trickle_body(1.0, _valid())},
            app=True,
        ),
        Row(
            "endless chunked body",
            token,
            4,
            lambda: {TOKEN_PATH: chunked(pad, filler[:65536], None, b"}")},
            app=True,
        ),
        Row(
            "3 GiB body (Content-Length)",
            token,
            4,
            lambda: {TOKEN_PATH: huge_body(3 << 30)},
            app=True,
        ),
        Row(
            "gzip bomb: 3 MB inflating to a 3 GiB token, unasked",
            token,
            4,
            lambda: {TOKEN_PATH: compressed(gzip_of(pad, filler, 3072, b"}"))},
            app=True,
        ),
        Row(
            "JSON nested 200 000 deep",
            token,
            4,
            lambda: {TOKEN_PATH: answer(200, b"[" * 200_000)},
            app=True,
        ),
    ]
    for kind in ("raw", "base64", "url-encoded", "basic", "structured", "json", "repr"):
        table.append(
            Row(
                f"echo of the password: {kind}, with terminal escapes",
                ["login"],
                4,
                lambda kind=kind: {BASIC_TOKEN_PATH: echo_secret(kind)},  # type: ignore[misc]
                user=True,
                note=(
                    "scrub() learns JSON-escaped and repr spellings in the logging branch"
                    if kind in ("json", "repr")
                    else ""
                ),
            )
        )
    table.append(
        Row(
            "echo of the Basic header, cut at 200 characters inside it",
            ["login"],
            4,
            lambda: {BASIC_TOKEN_PATH: echo_secret("basic", pad=180)},
            user=True,
        )
    )
    table += [
        Row(
            "listing with ids that are not client ids (revoke falls back to it)",
            ["credentials", "revoke", revoked_id],
            5,  # issue 17: an id the service does not list and this machine never held
            lambda: {
                BASIC_TOKEN_PATH: _user_token(),
                CLIENTS_PATH + revoked_id: json_answer(404, {"detail": "Not Found"}),
                CLIENTS_PATH: json_answer(200, odd_listing),
            },
            user=True,
            check=lambda server, _home: "a DELETE was sent" if _deletes(server) else "",
        ),
        Row(
            "create answers an id that is not a client id",
            ["credentials", "create"],
            5,  # a client the store cannot hold: revoked at once, exit 5 (README: Exit codes)
            lambda: {
                BASIC_TOKEN_PATH: _user_token(),
                CLIENTS_PATH: json_answer(201, {"client_id": "../x", "client_secret": "s" * 43}),
            },
            user=True,
            check=_no_file("app_credentials.json"),
        ),
        Row(
            "create answers a secret with a lone surrogate",
            ["credentials", "create"],
            5,
            lambda: {
                BASIC_TOKEN_PATH: _user_token(),
                CLIENTS_PATH: answer(
                    201,
                    b'{"client_id": "%s", "client_secret": "ab\\ud800cd\\u001b[2J"}'
                    % new_id.encode(),
                    [("Content-Type", "application/json")],
                ),
            },
            user=True,
            check=_refused_create_check(new_id),
        ),
    ]
    now = time.time()
    for label, value in (
        ("NaN", float("nan")),
        ("Infinity", float("inf")),
        ("in milliseconds", int(now * 1000)),
        ("ten years ahead", int(now) + 10 * 365 * 86400),
        ("already past", int(now) - 10),
    ):
        body = token_body(expires_at=value, expires_in=None)
        table.append(
            Row(
                f"token {expiry.format(label)}",
                ["token"],
                4,
                lambda body=body: {TOKEN_PATH: json_answer(200, body)},  # type: ignore[misc]
                app=True,
                check=_no_file("token-*.json"),
            )
        )
    table += [
        Row(
            "token expires_at in milliseconds, expires_in 600",
            ["token"],
            0,
            lambda: {
                TOKEN_PATH: json_answer(200, token_body(expires_at=int(now * 1000), expires_in=600))
            },
            app=True,
        ),
        Row(
            "service clock 10 minutes behind ours",
            token,
            0,
            lambda: {TOKEN_PATH: skewed_token_route(-600)},
            app=True,
        ),
        Row(
            "service clock 10 minutes ahead of ours",
            token,
            0,
            lambda: {TOKEN_PATH: skewed_token_route(600)},
            app=True,
        ),
        Row(
            "refused for time even on the service's clock",
            token,
            5,
            lambda: {TOKEN_PATH: skewed_token_route(-600, reason="client_assertion has expired")},
            app=True,
        ),
        Row(
            "same-id create: the new client has the current client's id",
            ["credentials", "rotate", "--max-age", "0s", "--grace", "0"],
            4,
            lambda: {
                BASIC_TOKEN_PATH: _user_token(),
                CLIENTS_PATH: by_method(
                    {
                        "POST": json_answer(201, same_id),
                        "GET": json_answer(200, [{"client_id": current.client_id}]),
                    }
                ),
                TOKEN_PATH: json_answer(200, token_body()),
                CLIENTS_PATH + current.client_id: answer(204, b""),
            },
            user=True,
            stored=current,
            check=_same_id_check(current),
            note="refusing a known id is the rotation engine's (issue 14 item 11, the lead's)",
        ),
        Row(
            "http:// to a host that is not loopback",
            ["--auth-url", "http://spatiafi.invalid", *token],
            2,
            app=True,
        ),
        Row(
            "~/.netrc holds another password for the auth host",
            ["login"],
            0,
            lambda: {BASIC_TOKEN_PATH: _basic_gate(basic)},
            user=True,
            netrc=True,
        ),
    ]
    return table


def _read(stream: Any, sink: list[str]) -> None:
    sink.append(stream.read())


def _high_water_mib(pid: int) -> float:
    """
    Return VmHWM of *pid* (its own peak RSS since exec), 0 once it has exited.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_measured(
    recorder: Recorder, args: list[str], env: dict[str, str], label: str
) -> tuple[int, str, str, float, float]:
    """
    Run the CLI; return exit code, stdout, stderr, wall seconds and peak RSS in MiB.

    Peak RSS is the child's VmHWM, sampled every 10 ms until it exits: wait4's ru_maxrss
    would also count the copy of this (large) process that the child was before its exec.
    """
    started = time.perf_counter()
    process = recorder.spawn([*CLI, *args], env)
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=_read, args=(process.stdout, out)),
        threading.Thread(target=_read, args=(process.stderr, err)),
    ]
    for reader in readers:
        reader.start()
    peak = 0.0
    end = time.monotonic() + PROCESS_TIMEOUT
    while process.poll() is None:
        peak = max(peak, _high_water_mib(process.pid))
        if time.monotonic() > end:
            process.kill()
            process.wait()
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    for reader in readers:
        reader.join()
    stdout, stderr = "".join(out), "".join(err)
    recorder.output(f"{label} stderr", stderr)
    return process.returncode, stdout, stderr, seconds, peak


def leaks(texts: list[str], secrets_: list[str]) -> int:
    """
    Count spellings (and 12-character pieces of the raw value) of *secrets_* in *texts*.
    """
    hits = 0
    for secret in secrets_:
        pieces = set(escapings(secret).values())
        pieces |= {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
        hits += sum(piece in text for piece in pieces if len(piece) >= 8 for text in texts)
    return hits


def hostile_service(recorder: Recorder, root: Path) -> Section:
    """
    Run every row; return the section with its table and the figures of its goals.
    """
    section = Section("Hostile service")
    password = 'Pw"\\\tä密-' + secrets.token_urlsafe(12)
    current = AppCredentials(
        client_id=str(uuid.uuid4()),
        client_secret=secrets.token_urlsafe(32),
        created_at=time.time() - 86400,
    )
    recorder.add_secrets([password, f"{USERNAME}:{password}"], "password")
    recorder.add_secrets([current.client_secret], "client secret")
    table_rows: list[list[str]] = []
    missed: list[str] = []
    for number, row in enumerate(rows(password, current)):
        home = root / f"row-{number:02d}"
        app_secret = secrets.token_urlsafe(32)
        recorder.add_secrets([app_secret], "client secret")
        with HostileServer(row.routes()) as server:
            env = base_env(
                home,
                server.url,
                SPATIAFI_DEADLINE=f"{DEADLINE:g}",
                SPATIAFI_TIMEOUT=f"{TIMEOUT:g}",
                **row.extra_env,
            )
            if row.app:
                env.update(SPATIAFI_CLIENT_ID=str(uuid.uuid4()), SPATIAFI_CLIENT_SECRET=app_secret)
            if row.user:
                env.update(SPATIAFI_USERNAME=USERNAME, SPATIAFI_PASSWORD=password)
            if row.stored is not None:
                Store(Settings(auth_url=server.url, config_dir=home / "config")).write(row.stored)
            if row.netrc:
                netrc = home / "home" / ".netrc"
                netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pw-4f2a9c7e\n")
                netrc.chmod(0o600)
            code, stdout, stderr, seconds, rss = run_measured(
                recorder, row.args, env, f"hostile row {number}"
            )
            assertions = [
                value
                for request in server.requests
                for value in parse_qs(request.body.decode("latin-1")).get("client_assertion", [])
            ]
            recorder.add_secrets(assertions, "client assertion")
            problem = row.check(server, home) if row.check is not None else ""
            if row.netrc:
                problem = problem or _netrc_check("netrc-pw-4f2a9c7e")(server, home)
        if code != 0:
            recorder.output(f"hostile row {number} stdout", stdout)  # nothing meant there
        found = leaks(
            [stderr] + ([stdout] if code != 0 else []),
            [password, app_secret, current.client_secret, *assertions],
        )
        within = seconds <= DEADLINE + 2
        light = rss <= MAX_RSS_MIB
        met = code == row.expect and within and light and found == 0 and not problem
        if not met:
            missed.append(row.name)
        notes = "; ".join(n for n in (problem, "" if met else row.note) if n)
        table_rows.append(
            [
                row.name,
                f"`spatiafi-ops {' '.join(row.args)}`",
                f"{row.expect} / {code}",
                f"{seconds:.1f}",
                f"{rss:.0f}",
                str(found),
                ("yes" if met else "**NO**") + (f" ({notes})" if notes else ""),
            ]
        )
    total = len(table_rows)
    section.figures.append(
        Figure(
            "rows with the documented exit code, within deadline + 2 s, within 100 MiB, "
            "0 leaks, and nothing harmed",
            f"{total - len(missed)}/{total}",
            "all",
            not missed,
        )
    )
    section.tables.append(
        Table(
            [
                "hostile answer",
                "command",
                "exit expected / actual",
                "wall s",
                "peak RSS MiB",
                "leaks",
                "met",
            ],
            table_rows,
        )
    )
    section.notes += [
        f"Each row: a fresh stdlib server on 127.0.0.1 (tests/hostile_server.py), the CLI as "
        f"its own process with --deadline {DEADLINE:g}s and --timeout {TIMEOUT:g}s; peak RSS "
        "is its VmHWM (/proc) sampled every 10 ms. Wall-time goal: deadline + 2 s.",
        "Leaks: the row's password (with quote, backslash, TAB and non-Latin-1 characters), "
        "client secrets and assertions, each in 7 spellings (raw, JSON-escaped, JSON with "
        "Unicode, base64, URL-safe base64, URL-encoded, repr) and every 12-character piece "
        "of the raw value, looked for in stderr (and stdout of failed runs); the whole-run "
        "leak scan also reads them.",
        "Checks beyond the exit code: no credential file after a refused create and one "
        "DELETE of the client it named, no DELETE for a revoke of an unknown id, no cached "
        "token after a nonsense expiry, no revocation and an unchanged store after a "
        "same-id create, no request carrying the netrc password.",
    ]
    return section
