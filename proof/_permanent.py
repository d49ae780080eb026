"""
`make proof`, targeted CLI checks: permanent failures must exit 3 after exactly one request;
an ambiguous create on one machine must not revoke another machine's client.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from proof._common import Figure, Recorder, Table, base_env, user_env
from proof._servers import emulator
from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle, Fault


def _count(handle: EmulatorHandle) -> int:
    return sum(handle.counters().values())


def permanent_failures(recorder: Recorder, root: Path) -> Table:
    """
    CLI runs that the service rejects for good: exit 3 after exactly one request.
    """
    rows: list[list[str]] = []
    with emulator(recorder) as (handle, _tap):
        good = user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)
        bad = user_env(DEFAULT_EMAIL, "wrong-password-" + secrets.token_urlsafe(8))
        recorder.add_secrets([bad["SPATIAFI_PASSWORD"]], "password")

        def case(name: str, args: list[str], env: dict[str, str], route: str, label: str) -> None:
            handle.reset()
            before = handle.count(route)
            total = _count(handle)
            done = recorder.run(args, env, label=f"permanent {label}")
            sent = handle.count(route) - before
            all_sent = _count(handle) - total
            met = done.code == 3 and sent == 1 and all_sent == 1
            rows.append(
                [
                    name,
                    str(done.code),
                    f"{all_sent} ({route}: {sent})",
                    "3 after 1 request",
                    "yes" if met else "NO",
                ]
            )

        revoked = handle.create_client()
        handle.delete_client(revoked.client_id)
        env = base_env(
            root / "perm-revoked",
            handle.url,
            SPATIAFI_CLIENT_ID=revoked.client_id,
            SPATIAFI_CLIENT_SECRET=revoked.client_secret,
        )
        recorder.add_secrets([revoked.client_secret], "client secret")
        case("`token --no-cache`, revoked client", ["token", "--no-cache"], env, "token", "revoked")

        live = handle.create_client()
        recorder.add_secrets([live.client_secret], "client secret")
        env = base_env(
            root / "perm-401",
            handle.url,
            SPATIAFI_CLIENT_ID=live.client_id,
            SPATIAFI_CLIENT_SECRET=live.client_secret,
        )
        handle.reset()
        handle.set_faults(Fault(route="token", status=401))
        before = handle.count("token")
        done = recorder.run(["token", "--no-cache"], env, label="permanent 401")
        sent = handle.count("token") - before
        handle.clear_faults()
        rows.append(
            [
                "`token --no-cache`, injected 401",
                str(done.code),
                f"{sent} (token: {sent})",
                "3 after 1 request",
                "yes" if done.code == 3 and sent == 1 else "NO",
            ]
        )

        env = base_env(root / "perm-login", handle.url, **bad)
        case("`login`, wrong password", ["login"], env, "basic", "login")
        case(
            "`credentials ensure` (empty profile), wrong password",
            ["credentials", "ensure"],
            env,
            "basic",
            "ensure",
        )
        env = base_env(root / "perm-rotate", handle.url, **good)
        recorder.run(["credentials", "ensure"], env, label="permanent setup")
        env.update(bad)
        case(
            "`credentials rotate --max-age 0s`, wrong password",
            ["credentials", "rotate", "--max-age", "0s"],
            env,
            "basic",
            "rotate",
        )
    return Table(["permanent failure", "exit", "requests sent", "goal", "met"], rows)


def shared_account(recorder: Recorder, root: Path) -> Figure:
    """
    Two machines (config dirs), one account: A's create fails ambiguously (the connection
    drops before the service processes it) and A reconciles. B's client must survive.
    """
    with emulator(recorder) as (handle, _tap):
        account = user_env(DEFAULT_EMAIL, DEFAULT_PASSWORD)
        machine_a = base_env(root / "machine-a", handle.url, **account)
        machine_b = base_env(root / "machine-b", handle.url, **account)
        recorder.run(["credentials", "ensure"], machine_a, label="shared account A")
        recorder.run(["credentials", "ensure"], machine_b, label="shared account B")
        handle.set_faults(Fault(route="clients", kind="drop", times=1))
        rotated = recorder.run(
            ["credentials", "rotate", "--max-age", "0s", "--grace", "0"],
            machine_a,
            label="shared account A rotate",
        )
        handle.clear_faults()
        token = recorder.run(
            ["token", "--no-cache"], machine_b, label="shared account B token", intended_stdout=True
        )
    broken = token.code != 0
    return Figure(
        "targeted: an ambiguous create on machine A, then B's `token` (same account, other "
        "config dir)",
        f"A's rotate exit {rotated.code}; B's token exit {token.code}"
        + (" (A's reconciliation revoked B's client)" if broken else ""),
        "B exit 0",
        not broken,
    )
