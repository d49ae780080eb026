"""
The worker side of `make proof`'s fault runs: one account's operations, run by the library
in a worker process, one run at a time, each with a fresh secret registry (as a CLI process
has), never raising.
"""

from __future__ import annotations

import io
import json
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from spatiafi_ops import RetryPolicy, Settings, UserLogin

RERUNS = 2
OPS = ("ensure", "token", "rotate", "token", "ensure", "rotate")
POLICY = {"initial": 0.05, "maximum": 0.5}
LONG_AGO = 30 * 86400.0
PRELOAD = [
    "spatiafi_ops.tokens._mint",
    "spatiafi_ops._logging",
    "spatiafi_ops.rotation",
    "spatiafi_ops.cli._exit",
    "proof._worker",
]


@dataclass(frozen=True)
class CycleTask:
    """
    One account and one config dir (one machine): the operations of OPS, in order.
    """

    index: int
    url: str
    email: str
    password: str
    root: str


@dataclass
class RunRecord:
    op: str
    ok: bool
    exit_code: int
    action: str | None = None
    error: str = ""
    message: str = ""
    rerun: bool = False


@dataclass
class CycleResult:
    index: int
    runs: list[RunRecord] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    orphans_reported: list[str] = field(default_factory=list)


_LOG_BUFFER: list[io.StringIO] = []
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def _shape(message: str) -> str:
    """
    Return *message* with client ids and ports elided, so that alike failures group.
    """
    return _PORT.sub("127.0.0.1:PORT", _UUID.sub("<id>", message))


def _worker_logs() -> io.StringIO:
    if not _LOG_BUFFER:
        from spatiafi_ops import _logging

        buffer = io.StringIO()
        _logging.configure(log_format="json", level="debug", stream=buffer)
        _LOG_BUFFER.append(buffer)
    return _LOG_BUFFER[0]


def run_cycle(task: CycleTask, ops: tuple[str, ...] = OPS, converge: bool = False) -> CycleResult:
    """
    Run *ops* for one account in this worker process, one at a time; never raises.
    """
    from spatiafi_ops._redaction import forget_secrets

    logs = _worker_logs()
    policy = RetryPolicy(**POLICY)
    root = Path(task.root)
    settings = Settings(auth_url=task.url, config_dir=root / "config", cache_dir=root / "cache")
    user = UserLogin(task.email, task.password)
    result = CycleResult(task.index)
    for op in ops:
        # A failed run is rerun at once (as cron would, later), at most RERUNS times: the
        # next operation then starts from a converged profile.
        for attempt in range(1 + RERUNS):
            record = _one_run(op, settings, user, policy, result, converge=converge)
            record.rerun = attempt > 0
            result.runs.append(record)
            if record.ok:
                break
    result.texts.append(("library logs (debug)", logs.getvalue()))
    logs.seek(0)
    logs.truncate()
    forget_secrets()
    return result


def _one_run(
    op: str,
    settings: Settings,
    user: UserLogin,
    policy: RetryPolicy,
    result: CycleResult,
    *,
    converge: bool,
) -> RunRecord:
    from spatiafi_ops import (
        Policy,
        RunContext,
        SpatiafiOpsError,
        ensure_credentials,
        load_credentials,
        mint_token,
        rotate_credentials,
    )
    from spatiafi_ops._redaction import forget_secrets
    from spatiafi_ops.cli._exit import exit_code_for

    forget_secrets()  # one registry per run, as a CLI process has
    record = RunRecord(op, ok=False, exit_code=1)
    try:
        if op == "token":
            mint_token(load_credentials(settings, environ={}), settings, policy=policy)
        else:
            context = RunContext(settings, user)
            if op == "ensure":
                # One machine per account: a lost create's client is provably ours.
                exclusive = Policy(retry=policy, exclusive_account=True)
                outcome = ensure_credentials(context, exclusive)
            else:
                age = LONG_AGO if converge else 0.0
                outcome = rotate_credentials(context, Policy(max_age=age, grace=0.0, retry=policy))
            record.action = outcome.action
            result.orphans_reported += list(outcome.orphaned_client_ids)
            result.texts.append((f"{op} result JSON", json.dumps(outcome.to_dict())))
        record.ok, record.exit_code = True, 0
    except SpatiafiOpsError as exc:
        record.exit_code = exit_code_for(exc)
        record.error = type(exc).__name__
        record.message = _shape(str(exc))
        result.texts.append((f"{op} exception", f"{exc}\n{exc!r}\n{traceback.format_exc()}"))
    except Exception as exc:  # a bug: the CLI would exit 1; keep the traceback for the scan
        record.error = f"bug: {type(exc).__name__}"
        record.message = _shape(str(exc))
        result.texts.append((f"{op} exception", traceback.format_exc()))
    return record


def converge_cycle(task: CycleTask) -> CycleResult:
    """
    Finish what the faulted runs left (no faults now): ensure, then rotate if due.
    """
    return run_cycle(task, ("ensure", "rotate"), converge=True)
