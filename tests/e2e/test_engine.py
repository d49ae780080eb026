"""
The one engine behind every verb, end to end against the emulator: a create journaled like
a rotation, no client churn when a new client would fare no better, a profile that
remembers its service, and a usage error that stays a usage error in a fleet.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spatiafi_ops.emulator import EmulatorHandle, Fault
from spatiafi_ops.rotation import CRASH_POINTS
from tests.conftest import RecordingRunner
from tests.e2e.rotation_support import (
    CREATE_ROUTE,
    DAY,
    ENSURE,
    ROTATE,
    TOKEN_ROUTE,
    age_credentials,
    crash,
    live_ids,
    mints,
    record_stored_secrets,
    rotation_state,
    run_json,
    stored,
)

CREATE = ["credentials", "create"]
# A create of an empty profile never reaches the steps after the switch.
CREATE_STEPS = ("planned", "created", "journaled", "verified", "switched")


# create goes through the journal


def test_a_lost_create_answer_on_a_service_that_cannot_list_is_journaled_and_finished(
    runner: RecordingRunner,
    unmanaged_service: EmulatorHandle,
    clean_environment: dict[str, Path],
) -> None:
    """exit 4 saying a client may exist and that it cannot be listed, the change journaled;
    the rerun finishes the create instead of failing or starting over silently."""
    config = clean_environment["config"]
    unmanaged_service.set_faults(Fault(route="clients", status=502, after=True, times=1))
    failed = runner.run(CREATE)
    assert failed.exit_code == 4
    assert "may have created a client" in failed.stderr
    assert "cannot list" in failed.stderr
    journal = rotation_state(config)["rotation"]
    assert journal["kind"] == "create"
    assert journal["phase"] == "planned"
    assert not (config / "app_credentials.json").exists()
    out = run_json(runner, CREATE)
    record_stored_secrets(config)
    assert out["action"] == "created"
    assert out["resumed"] is True
    assert stored(config)["client_id"] == out["client_id"]
    assert mints(unmanaged_service, stored(config))
    assert rotation_state(config)["rotation"] is None


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
def test_a_lost_create_answer_is_reconciled_and_never_leaves_an_unknown_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    exclusive: bool,
) -> None:
    """A 502 after the server made the client. On an exclusive account: revoked as an
    orphan, and created again in the same run. Otherwise: reported and left live, the run
    stops (exit 4, one create per run), and the rerun creates once."""
    config = clean_environment["config"]
    flag = ["--exclusive-account"] if exclusive else []
    service.set_faults(Fault(route="clients", status=502, after=True, times=1))
    first = runner.run([*CREATE, *flag])
    record_stored_secrets(config)
    (orphan,) = rotation_state(config)["orphaned_client_ids"]
    if exclusive:
        assert first.exit_code == 0, first.stderr
        out = json.loads(first.stdout)
        assert orphan in out["revoked_client_ids"]
    else:
        assert first.exit_code == 4, first.stderr
        out = run_json(runner, CREATE)
        record_stored_secrets(config)
    assert service.count(CREATE_ROUTE) == 2
    assert live_ids(service) == {out["client_id"]} | (set() if exclusive else {orphan})


def test_lost_create_answers_in_a_row_on_an_exclusive_account_end_in_one_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
) -> None:
    """Five creates in a row lose their answer after the server made the client (make
    proof's 30 % faults do this about once in 60 runs): each client is revoked as an orphan
    and the create sent again, so the run converges (exit 0) instead of stopping at exit 4
    with every lost client already revoked."""
    config = clean_environment["config"]
    service.set_faults(Fault(route="clients", status=502, after=True, times=5))
    first = runner.run([*CREATE, "--exclusive-account"])
    record_stored_secrets(config)
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    orphans = rotation_state(config)["orphaned_client_ids"]
    assert len(orphans) == 5
    assert set(orphans) <= set(out["revoked_client_ids"])
    assert service.count(CREATE_ROUTE) == 6
    assert live_ids(service) == {out["client_id"]}


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_a_create_killed_at_any_step_is_finished_by_the_next_create(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    step: str,
) -> None:
    """SIGKILL anywhere in a create of a profile on an exclusive account: the rerun ends
    with one stored, working client (a lost answer's client revoked)."""
    config = clean_environment["config"]
    crash(*CREATE, "--exclusive-account", step=step)
    record_stored_secrets(config)
    out = run_json(runner, CREATE)
    record_stored_secrets(config)
    assert out["action"] == "created"
    assert out["resumed"] is True
    assert stored(config)["client_id"] == out["client_id"]
    assert live_ids(service) == {out["client_id"]}
    assert service.count(CREATE_ROUTE) == (2 if step == "created" else 1)


@pytest.mark.parametrize("step", [s for s in CRASH_POINTS if s not in ("publishing", "published")])
def test_a_create_force_killed_at_any_step_never_strands_a_client(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    step: str,
) -> None:
    """SIGKILL anywhere in create --force --revoke-old: the store mints throughout; the rerun
    finishes the replacement without a third client, and the old client ends revoked."""
    config = clean_environment["config"]
    old = run_json(runner, CREATE)
    crash(*CREATE, "--force", "--revoke-old", step=step)
    record_stored_secrets(config)
    assert mints(service, stored(config))
    out = run_json(runner, [*CREATE, "--force", "--revoke-old"])
    record_stored_secrets(config)
    assert out["resumed"] is True
    assert out["action"] == ("revoked" if step in ("revoking", "revoked") else "replaced")
    current = stored(config)
    assert current["client_id"] != old["client_id"]
    assert mints(service, current)
    assert old["client_id"] not in live_ids(service)
    assert service.count(CREATE_ROUTE) == (3 if step == "created" else 2)


def test_create_force_keeps_the_old_client_and_lists_it_for_revocation(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """Without --revoke-old the replaced client stays valid, backed up, and is listed in
    manual_revoke_client_ids; with it, the replaced client is revoked at once."""
    config = clean_environment["config"]
    first = run_json(runner, CREATE)
    kept = run_json(runner, [*CREATE, "--force"])
    record_stored_secrets(config)
    assert kept["action"] == "replaced"
    assert kept["previous_client_id"] == first["client_id"]
    assert kept["manual_revoke_client_ids"] == [first["client_id"]]
    assert first["client_id"] in live_ids(service)
    backups = [json.loads(p.read_text()) for p in (config / "backups").iterdir()]
    assert first["client_id"] in {b["client_id"] for b in backups}
    revoked = run_json(runner, [*CREATE, "--force", "--revoke-old"])
    record_stored_secrets(config)
    assert revoked["revoked_client_ids"] == [kept["client_id"]]
    assert live_ids(service) == {first["client_id"], revoked["client_id"]}


# no churn


def test_a_rejected_new_client_stops_later_runs_from_creating_more(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the service refused a new client, rotate and ensure report and stop (exit 3)
    instead of creating one more client per run; create --force tries again."""
    from spatiafi_ops.rotation import _service

    config = clean_environment["config"]
    run_json(runner, ENSURE)
    age_credentials(config, 40 * DAY)
    monkeypatch.setattr(_service, "VERIFY_ATTEMPTS", 2)
    service.set_faults(Fault(route=TOKEN_ROUTE, status=401))
    assert runner.run([*ROTATE, "--grace", "0"]).exit_code == 3
    assert rotation_state(config)["rejected_repair"] is not None
    service.reset()
    service.set_faults(Fault(route=TOKEN_ROUTE, status=401))
    for args in (ROTATE, ENSURE):
        result = runner.run(args)
        assert result.exit_code == 3
        assert "no other client is created" in result.stderr
    assert service.count(CREATE_ROUTE) == 0
    service.set_faults()
    out = run_json(runner, [*CREATE, "--force"])
    record_stored_secrets(config)
    assert out["action"] == "replaced"
    assert rotation_state(config)["rejected_repair"] is None


def test_ensure_never_replaces_a_client_the_service_still_lists(
    runner: RecordingRunner, service: EmulatorHandle, clean_environment: dict[str, Path]
) -> None:
    """A rejected client that the service still lists is not the client's fault (a wrong
    secret, a clock): a new client would be rejected the same way, so nothing is created."""
    config = clean_environment["config"]
    old = run_json(runner, ENSURE)
    path = config / "app_credentials.json"
    data = json.loads(path.read_text())
    data["client_secret"] = "x" * 43
    path.write_text(json.dumps(data))
    service.reset()
    result = runner.run(ENSURE)
    assert result.exit_code == 3
    assert "still lists it" in result.stderr
    assert service.count(CREATE_ROUTE) == 0
    assert stored(config)["client_id"] == old["client_id"]


# the service answers nonsense


class _SameIdProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the emulator, but answers a create with the id it is told to repeat."""

    target = ""
    repeat_id = ""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        request = urllib.request.Request(
            self.target + self.path, data=body, headers=headers, method=self.command
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        if self.command == "POST" and self.path == "/api/v1/clients/" and status == 201:
            answer = json.loads(payload)
            answer["client_id"] = self.repeat_id
            payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="same_id_proxy")
def _same_id_proxy(service: EmulatorHandle) -> Iterator[type[_SameIdProxy]]:
    handler = type("Handler", (_SameIdProxy,), {"target": service.url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_create_answering_a_known_id_switches_and_revokes_nothing(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    same_id_proxy: type[_SameIdProxy],
) -> None:
    """A "new" client with the profile's own id: exit 4; the working client is neither
    replaced nor revoked."""
    config = clean_environment["config"]
    old = run_json(runner, ENSURE)
    age_credentials(config, 40 * DAY)
    same_id_proxy.repeat_id = old["client_id"]
    url = same_id_proxy.url  # type: ignore[attr-defined]
    result = runner.run(["--auth-url", url, *ROTATE, "--grace", "0"])
    assert result.exit_code == 4
    assert "already knows" in result.stderr
    assert stored(config)["client_id"] == old["client_id"]
    assert old["client_id"] in live_ids(service)
    assert mints(service, stored(config))
    assert rotation_state(config)["rotation"] is None


# the profile's service


def test_a_profile_mints_where_it_was_created(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Created against one URL, the profile's token needs no URL again; another URL given
    wins, with a warning naming both."""
    run_json(runner, ["--profile", "staging", *CREATE])
    record_stored_secrets(clean_environment["config"])
    monkeypatch.delenv("SPATIAFI_AUTH_URL")
    result = runner.run(["--profile", "staging", "token"])
    assert result.exit_code == 0, result.stderr
    # Nothing listens on port 9: a short deadline ends the retries (the default is 60 s).
    elsewhere = ["--auth-url", "http://127.0.0.1:9", "--deadline", "2"]
    overridden = runner.run(["--profile", "staging", *elsewhere, "token", "--no-cache"])
    assert overridden.exit_code == 4
    assert "auth_url_overridden" in overridden.stderr


# usage errors stay usage errors


def test_a_fleet_without_a_login_exits_2_per_profile(
    runner: RecordingRunner,
    service: EmulatorHandle,
    clean_environment: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No password and no terminal: a usage error (exit 2) for each profile and the run."""
    config = clean_environment["config"]
    for name in ("alpha", "bravo"):
        run_json(runner, ["--profile", name, *ENSURE])
    record_stored_secrets(config)
    monkeypatch.delenv("SPATIAFI_PASSWORD")
    result = runner.run([*ROTATE, "--all-profiles", "--max-age", "0"])
    assert result.exit_code == 2, result.stderr
    out = json.loads(result.stdout)
    assert {entry["error_type"] for entry in out["profiles"]} == {"LoginRequired"}
    assert {entry["exit_code"] for entry in out["profiles"]} == {2}
    single = runner.run(["--profile", "alpha", *ROTATE, "--max-age", "0"])
    assert single.exit_code == 2
