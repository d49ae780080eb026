"""
`make proof`, bad input: malformed options, environment, files and server responses, each
run through the real CLI; exit code, first line of the message, traceback, files changed.
"""

from __future__ import annotations

import contextlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from proof._cases import STEAL, Case, cases
from proof._common import (
    Figure,
    Recorder,
    Section,
    Table,
    base_env,
    first_line,
    tree_digest,
    user_env,
    write_private,
)
from proof._servers import canned, emulator
from spatiafi_ops import AppCredentials
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle

_PORT = re.compile(r"127\.0\.0\.1:\d{4,5}")


@dataclass
class Outcome:
    case: Case
    code: int
    message: str
    traceback: bool
    changed: list[str]
    followed: bool = False


def _py_spatiafi_file(client: AppCredentials) -> bytes:
    """
    Return the file py-spatiafi writes: the create route's answer as JSON.
    """
    data = {"user_id": client.user_id, "client_id": client.client_id}
    return json.dumps({**data, "client_secret": client.client_secret}).encode()


def run_case(
    recorder: Recorder, handle: EmulatorHandle, steal: str, root: Path, index: int, case: Case
) -> Outcome:
    """
    Run one case in its own directories; compare the files before and after.
    """
    home = root / f"case-{index:02d}"
    config, cache = home / "config", home / "cache"
    config.mkdir(parents=True, mode=0o700)
    if case.stored:
        client = handle.create_client()
        recorder.add_secrets([client.client_secret], "client secret")
        write_private(config / "app_credentials.json", _py_spatiafi_file(client))
    if case.setup is not None:
        case.setup(config)
    with contextlib.ExitStack() as stack:
        url = handle.url
        if case.routes is not None:
            routes = {
                path: (status, kind, body, tuple((k, v.format(steal=steal)) for k, v in headers))
                for path, (status, kind, body, headers) in case.routes.items()
            }
            url = stack.enter_context(canned(routes)).url
        elif case.faults:
            emu, _tap = stack.enter_context(emulator(recorder, faults=case.faults))
            url = emu.url
            if case.stored:
                client = emu.create_client()
                recorder.add_secrets([client.client_secret], "client secret")
                write_private(config / "app_credentials.json", _py_spatiafi_file(client))
        env = base_env(home, url, SPATIAFI_DEADLINE="1.5", SPATIAFI_TIMEOUT="1")
        if case.user:
            env.update(user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD))
        env.update(case.env)
        before = tree_digest(config, cache)
        done = recorder.run(case.args, env, label=f"bad input {case.name}", input=case.stdin)
        after = tree_digest(config, cache)
    changed = sorted(
        str(Path(p).relative_to(home))
        for p in set(before) | set(after)
        if before.get(p) != after.get(p)
    )
    return Outcome(
        case,
        done.code,
        _PORT.sub("127.0.0.1:PORT", first_line(done.stderr).replace(str(home), "CASE_DIR")),
        "Traceback (most recent call last)" in done.stderr,
        changed,
    )


def bad_input(recorder: Recorder, root: Path, *, workers: int = 3) -> Section:
    """
    Run every case (a few at a time) and tabulate them.
    """
    section = Section("Bad input")
    with emulator(recorder) as (handle, _tap), canned({}) as thief:
        items = cases()
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(
                pool.map(
                    lambda pair: run_case(recorder, handle, thief.url, root, *pair),
                    enumerate(items),
                )
            )
    section.figures.append(
        Figure(
            "requests that followed a redirect to another host (they would carry the assertion)",
            str(sum(thief.hits.values())),
            "0",
            not thief.hits,
        )
    )
    rows = []
    met_all = 0
    for outcome in outcomes:
        case = outcome.case
        if (
            thief.hits
            and case.routes
            and any(STEAL in value for *_, headers in case.routes.values() for _, value in headers)
        ):
            outcome.changed.append(
                "none, but the request (and its assertion) went to the other host"
            )
            outcome.followed = True
        by_design = bool(case.files_may_change) and bool(outcome.changed)
        met = outcome.code in (case.expect, *case.also) and not outcome.traceback
        met = met and not outcome.followed and (not outcome.changed or by_design)
        met_all += met
        changed = ", ".join(outcome.changed) or "no"
        if by_design:
            changed += f" ({case.files_may_change})"
        message = outcome.message.replace("|", "\\|")
        if len(message) > 160:
            message = message[:157] + "..."
        rows.append(
            [
                case.kind,
                case.name,
                f"{outcome.code} (doc {'/'.join(map(str, (case.expect, *case.also)))})",
                message,
                "yes" if outcome.traceback else "no",
                changed,
                "yes" if met else "NO",
            ]
        )
    section.figures.append(Figure("cases", str(len(outcomes)), ">= 30", len(outcomes) >= 30))
    section.figures.append(
        Figure(
            "cases with the documented exit code, no traceback, nothing changed on disk",
            f"{met_all}/{len(outcomes)}",
            "all",
            met_all == len(outcomes),
        )
    )
    section.tables.append(
        Table(
            [
                "kind",
                "input",
                "exit",
                "first line of the message",
                "traceback",
                "files changed",
                "met",
            ],
            rows,
        )
    )
    section.notes.append(
        "CLI processes, each with its own config and cache dir (a valid stored credential "
        "unless the case says otherwise; shown as CASE_DIR), `--deadline 1.5 --timeout 1` "
        "through the environment; emulator ports are shown as PORT. "
        "Server cases use the emulator's faults or a stdlib server on 127.0.0.1 answering a "
        "canned response. Files changed: SHA-256 and mode of every file under the config and "
        "cache dirs before and after (empty lock files left out). The exit codes expected are "
        "README: The CLI's: 2 usage, 3 rejected credentials, 4 service failure, 5 local state."
    )
    return section
