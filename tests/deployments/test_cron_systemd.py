"""
examples/cron and examples/systemd on a fresh host: the crontab line and the service unit
are read from the examples and run as cron and systemd would run them (the line's command
with the crontab's variables through its SHELL; the unit's ExecStart with its Environment=,
LoadCredential=, StateDirectory= and UMask=), against the emulator.

The host is a directory tree (its /etc, /var), the clock a fake one (tests/deployments/
fake_clock): the tool's processes see time.time() run ahead, and the emulator's clock is
moved with it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from spatiafi_ops.emulator import DEFAULT_EMAIL, DEFAULT_PASSWORD, EmulatorHandle
from tests.conftest import record_output

REPO = Path(__file__).resolve().parents[2]
CRON = REPO / "examples" / "cron"
SYSTEMD = REPO / "examples" / "systemd"
BIN = Path(sys.executable).parent
FAKE_CLOCK = Path(__file__).with_name("fake_clock")
DAY = 86400

pytestmark = pytest.mark.posix("cron, bash and a POSIX file system")

ALERT = """#!/bin/sh
printf '%s|%s|%s\\n' "$1" "$2" "$3" >> "$0.log"
"""


class Host:
    """
    A fresh host under *root*: absolute paths of the examples land below it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "etc" / "spatiafi-ops").mkdir(parents=True)
        password = root / "etc" / "spatiafi-ops" / "password"
        password.write_text(DEFAULT_PASSWORD + "\n", encoding="utf-8")
        password.chmod(0o400)
        self.alerts = root / "usr" / "local" / "bin" / "page-oncall"
        self.alerts.parent.mkdir(parents=True)
        self.alerts.write_text(ALERT, encoding="utf-8")
        self.alerts.chmod(0o755)

    def path(self, value: str) -> str:
        """
        Return *value* with the example's install paths and host paths moved into the host.
        """
        value = value.replace("ops@example.com", DEFAULT_EMAIL)  # the account: the emulator's
        value = value.replace("/opt/spatiafi-ops/bin", str(BIN))
        value = value.replace("/usr/local/bin/spatiafi-rotate", str(CRON / "spatiafi-rotate"))
        return re.sub(r"(?<![\w.])/(etc|var|usr/local)/", rf"{self.root}/\1/", value)

    def alerted(self) -> list[str]:
        log = Path(f"{self.alerts}.log")
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _crontab(host: Host) -> tuple[dict[str, str], str, str]:
    """
    Return the crontab's variables, its one job's command and its SHELL.
    """
    env: dict[str, str] = {}
    jobs = []
    for line in (CRON / "spatiafi-rotate.cron").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if assignment:
            env[assignment[1]] = host.path(assignment[2])
        else:
            fields = line.split(None, 6)  # m h dom mon dow user command
            jobs.append(host.path(fields[6]))
    (job,) = jobs
    return env, job, env.pop("SHELL")


def _clock(seconds: float) -> dict[str, str]:
    return {
        "PYTHONPATH": str(FAKE_CLOCK),
        "SPATIAFI_TEST_CLOCK_OFFSET": str(seconds),
    }


@pytest.mark.slow
def test_sixty_nights_from_an_empty_config_dir(
    tmp_path: Path, spatiafi_emulator: EmulatorHandle
) -> None:
    """The crontab's job, nightly for 60 nights from an empty config dir, the clock 3 days
    fast on one night (a rotation falls on it) then corrected: every night exits 0 and pages
    no one; the first night creates, nights 27 and 57 rotate, the next nights revoke."""
    host = Host(tmp_path / "host")
    crontab_env, command, shell = _crontab(host)
    log = Path(re.search(r">>(\S+)", command)[1])  # type: ignore[index]
    log.parent.mkdir(parents=True)
    actions = []
    for night in range(60):
        skew = 3 * DAY if night == 27 else 0
        spatiafi_emulator.set_clock_offset(night * DAY)
        env = {
            "HOME": str(host.root / "var" / "lib" / "spatiafi"),  # cron's: the user's home
            "LOGNAME": "spatiafi",
            **crontab_env,
            **_clock(night * DAY + skew),
            "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
        }
        done = subprocess.run(
            [shell, "-c", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (night, log.read_text())
        actions.append(_last_action(log))
    record_output(log.read_text())
    assert host.alerted() == []
    assert actions[0] == "unchanged"  # night 0: ensure created them, rotate kept them
    rotated = [night for night, action in enumerate(actions) if action == "rotated"]
    assert rotated == [27, 57], actions
    assert len(spatiafi_emulator.clients()) == 1  # each old client revoked the night after


def _last_action(log: Path) -> str:
    import json

    for line in reversed(log.read_text(encoding="utf-8").splitlines()):
        if line.startswith('{"profile"') and '"action"' in line:
            return str(json.loads(line)["action"])
    return ""


def _unit(path: Path) -> dict[str, list[str]]:
    """
    Return a unit file's settings, each with every value it was given (Environment= repeats).
    """
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_systemd_service_as_written(tmp_path: Path, spatiafi_emulator: EmulatorHandle) -> None:
    """ExecStart with the unit's Environment=, the password through LoadCredential= and the
    StateDirectory=: the first run on a fresh host creates the credentials, the next keeps
    them; the files are private (UMask=0077)."""
    host = Host(tmp_path / "host")
    unit = _unit(SYSTEMD / "spatiafi-rotate.service")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    for assignment in unit["Environment"]:
        name, _, value = assignment.partition("=")
        env[name] = host.path(value)
    credentials = tmp_path / "run" / "credentials" / "spatiafi-rotate.service"
    credentials.mkdir(parents=True)
    for item in unit["LoadCredential"]:
        name, _, source = item.partition(":")
        (credentials / name).write_bytes(Path(host.path(source)).read_bytes())
        (credentials / name).chmod(0o400)
    state = Path(host.path("/var/lib/" + unit["StateDirectory"][0]))
    state.mkdir(parents=True, mode=int(unit["StateDirectoryMode"][0], 8))
    env |= {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "STATE_DIRECTORY": str(state),
        "SPATIAFI_AUTH_URL": spatiafi_emulator.url,
    }
    umask = int(unit["UMask"][0], 8)
    argv = [host.path(word) for word in shlex.split(unit["ExecStart"][0])]
    for expected in ("created", "unchanged"):
        done = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=lambda: os.umask(umask),  # systemd's UMask=
        )
        record_output(done.stderr)
        assert done.returncode == 0, done.stderr
        assert f'"action": "{expected}"' in done.stdout + done.stderr
    stored = Path(env["SPATIAFI_CONFIG_DIR"]) / "app_credentials.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert DEFAULT_EMAIL not in stored.read_text()
    assert host.alerted() == []
