"""
`make proof`, hostile host: the traps, each laid in a home that holds working credentials
(run by _hostile_host.py). Another user's files need root (os.chown); the device
node is made in the temp dir, never in the real /dev.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spatiafi_ops._models import AppCredentials
from spatiafi_ops.tokens._cache import TokenCache

OTHER_UID = 12345
MINTED = ("cache",)  # a minted token is cached: the product of `token` besides its output

Where = Callable[[Path, dict[str, str]], Path]  # a path in the case's home
Step = Callable[[Path, dict[str, str]], object]  # one part of a trap; may return a handle


@dataclass
class Case:
    """
    One trap: how to lay it in a home that holds working credentials, and what to expect.
    """

    name: str
    args: list[str]
    expect: int
    lay: tuple[Step, ...] = ()
    product: tuple[str, ...] = ()  # what the command may change, relative to the home
    needs_root: bool = False
    intended_stdout: bool = False


def stored_credentials(home: Path) -> AppCredentials:
    data = json.loads((home / "config" / "app_credentials.json").read_text())
    return AppCredentials(data["client_id"], data["client_secret"])


def at(relative: str) -> Where:
    return lambda home, env: home / relative


def token_file(suffix: str) -> Where:
    def where(home: Path, env: dict[str, str]) -> Path:
        path = TokenCache(home / "cache").path_for(
            env["SPATIAFI_AUTH_URL"], stored_credentials(home)
        )
        return path.with_suffix(suffix)

    return where


CREDENTIALS, CACHE = at("config/app_credentials.json"), at("cache")


def private_dir(where: Where, mode: int = 0o700) -> Step:
    def step(home: Path, env: dict[str, str]) -> None:
        where(home, env).mkdir(exist_ok=True)
        where(home, env).chmod(mode)

    return step


def theirs(where: Where) -> Step:
    return lambda home, env: os.chown(where(home, env), OTHER_UID, OTHER_UID)


def remove(where: Where) -> Step:
    return lambda home, env: where(home, env).unlink()


def fifo(where: Where) -> Step:
    def step(home: Path, env: dict[str, str]) -> None:
        path = where(home, env)
        path.unlink(missing_ok=True)
        os.mkfifo(path, 0o600)

    return step


def symlink(where: Where, target: Where) -> Step:
    return lambda home, env: where(home, env).symlink_to(target(home, env))


def copy(source: Where, to: Where) -> Step:
    def step(home: Path, env: dict[str, str]) -> None:
        to(home, env).parent.mkdir(mode=0o700, exist_ok=True)
        to(home, env).write_bytes(source(home, env).read_bytes())
        to(home, env).chmod(0o600)

    return step


def reader(where: Where) -> Step:
    """
    Read the FIFO to its end in a thread, as `cat fifo` in another shell would.
    """

    def step(home: Path, env: dict[str, str]) -> threading.Thread:
        path, opened = where(home, env), threading.Event()

        def drain() -> None:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            opened.set()
            got, give_up = False, time.monotonic() + 60
            while time.monotonic() < give_up:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    chunk = b""
                if chunk:
                    got = True
                elif got:
                    break
                else:
                    time.sleep(0.01)
            os.close(fd)

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        opened.wait(30)
        return thread

    return step


def aged_decoys(where: Where) -> Step:
    def step(home: Path, env: dict[str, str]) -> None:
        directory = where(home, env)
        directory.mkdir()
        for name in (".a.b.tmp", ".*.1234.tmp", ".app.env.0123456789abcdef.tmp"):
            (directory / name).write_text("someone else's")
            then = time.time() - 3600
            os.utime(directory / name, (then, then))

    return step


def device(where: Where) -> Step:
    # As /dev/null (1, 3), but a node in the temp dir: never the real /dev.
    return lambda home, env: os.mknod(where(home, env), stat.S_IFCHR | 0o666, os.makedev(1, 3))


def listening_socket(where: Where) -> Step:
    def step(home: Path, env: dict[str, str]) -> socket.socket:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(where(home, env)))
        return server

    return step


def github_output(where: Where) -> Step:
    return lambda home, env: env.update(GITHUB_OUTPUT=str(where(home, env)))


def cases() -> list[Case]:
    """
    The traps, each against a home whose config dir holds working credentials.
    """
    token, config = ["token"], at("config")
    lock, cached = token_file(".lock"), token_file(".json")
    out = ["token", "--output"]
    return [
        Case("config dir writable by others (0777)", token, 5, (private_dir(config, 0o777),)),
        Case("config dir of another user", token, 5, (theirs(config),), needs_root=True),
        Case(
            "another user's 0600 app_credentials.json in a 0777 config dir",
            token,
            5,
            (theirs(CREDENTIALS), private_dir(config, 0o777)),
            needs_root=True,
        ),
        Case(
            "app_credentials.json a symlink to a private copy",
            token,
            5,
            (
                copy(CREDENTIALS, at("elsewhere/app_credentials.json")),
                remove(CREDENTIALS),
                symlink(CREDENTIALS, at("elsewhere/app_credentials.json")),
            ),
        ),
        Case("FIFO at app_credentials.json", token, 5, (fifo(CREDENTIALS),)),
        Case(
            "FIFO at the tutorial's app_credentials",
            token,
            5,
            (remove(CREDENTIALS), fifo(at("config/app_credentials"))),
        ),
        Case(
            "FIFO at rotation-state.json",
            ["credentials", "rotate", "--max-age", "30d"],
            5,
            (fifo(at("config/rotation-state.json")),),
        ),
        Case(
            "FIFO at the profile's .lock",
            ["credentials", "rotate", "--max-age", "30d"],
            5,
            (fifo(at("config/.lock")),),
        ),
        Case(
            "FIFO at app_credentials.json, import in place",
            ["credentials", "import"],
            5,
            (fifo(CREDENTIALS),),
        ),
        Case(
            "cache dir writable by others (0777): a mint, nothing cached",
            token,
            0,
            (private_dir(CACHE, 0o777),),
            intended_stdout=True,
        ),
        Case(
            "cache dir of another user: a mint, nothing cached",
            token,
            0,
            (private_dir(CACHE), theirs(CACHE)),
            needs_root=True,
            intended_stdout=True,
        ),
        Case(
            "token-*.lock a symlink to a file elsewhere: a mint, nothing created",
            token,
            0,
            (private_dir(CACHE), symlink(lock, at("victim"))),
            intended_stdout=True,
        ),
        Case(
            "FIFO at token-*.lock: a mint",
            token,
            0,
            (private_dir(CACHE), fifo(lock)),
            intended_stdout=True,
        ),
        Case(
            "FIFO at token-*.json: a mint, the FIFO replaced by the token",
            token,
            0,
            (private_dir(CACHE), fifo(cached)),
            product=MINTED,
            intended_stdout=True,
        ),
        Case(
            "FIFO as GITHUB_OUTPUT, nothing reading",
            ["token", "--format", "github"],
            5,
            (fifo(at("github_output")), github_output(at("github_output"))),
            product=MINTED,
        ),
        Case(
            "--output FIFO, nothing reading",
            [*out, "{home}/out.pipe"],
            5,
            (fifo(at("out.pipe")),),
            product=MINTED,
        ),
        Case(
            "--output FIFO with a reader: written through",
            [*out, "{home}/out.pipe"],
            0,
            (fifo(at("out.pipe")), reader(at("out.pipe"))),
            product=MINTED,
        ),
        Case(
            "--output a character device (made in the temp dir): written through",
            [*out, "{home}/null"],
            0,
            (device(at("null")),),
            product=MINTED,
            needs_root=True,
        ),
        Case(
            "--output /proc/self/fd/1 (a pipe): written through",
            [*out, "/proc/self/fd/1"],
            0,
            product=MINTED,
            intended_stdout=True,
        ),
        Case(
            "--output a directory",
            [*out, "{home}/adir"],
            5,
            (private_dir(at("adir")),),
            product=MINTED,
        ),
        Case(
            "--output a socket",
            [*out, "{home}/sock"],
            5,
            (listening_socket(at("sock")),),
            product=MINTED,
        ),
        Case(
            "--output a dangling symlink",
            [*out, "{home}/link"],
            5,
            (symlink(at("link"), at("nowhere")),),
            product=MINTED,
        ),
        Case(
            "--output 'dir/*' beside old '.X.Y.tmp' files",
            [*out, "{home}/dir/*"],
            0,
            (aged_decoys(at("dir")),),
            product=(*MINTED, "dir/*"),
        ),
    ]
