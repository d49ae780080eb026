"""
The emulator as a network service: half-open and stalled requests cost it a buffer, not a
worker or a descriptor it cannot spare, and they are dropped after their deadline.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from spatiafi_ops.emulator import EmulatorHandle, Fault
from spatiafi_ops.emulator._server import QUEUE_SIZE, WORKERS

from .emulator_testlib import raw_exchange

HALF_OPEN = 1200
PARTIAL_HEAD = b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
# The soft descriptor limit most Linux distributions and systemd services start with.
DEFAULT_SOFT_LIMIT = 1024


def _command() -> list[str]:
    script = Path(sys.executable).with_name("spatiafi-ops")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spatiafi_ops"]


@contextlib.contextmanager
def _cli_emulator(limits: str) -> Iterator[EmulatorHandle]:
    """
    Run ``emulator serve`` under the descriptor *limits* (``ulimit`` arguments).
    """
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    serve = shlex.join([*_command(), "emulator", "serve", "--port", "0", "--no-access-log"])
    process = subprocess.Popen(
        ["sh", "-c", f"{limits} && exec {serve}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield EmulatorHandle(url)
    finally:
        process.kill()
        process.wait(timeout=10)


def _raise_descriptor_limit(needed: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this test holds {needed} sockets; the hard descriptor limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _open_half_requests(url: str, count: int) -> list[socket.socket]:
    """
    Open *count* connections that each send half a request head and then stall.
    """
    port = int(url.rsplit(":", 1)[1])
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            sock.sendall(PARTIAL_HEAD)
        except OSError:  # a server that stopped accepting: the client below will tell
            continue
        sockets.append(sock)
    return sockets


@pytest.mark.posix("raises RLIMIT_NOFILE and runs the server under `sh -c ulimit`")
@pytest.mark.parametrize(
    "limits",
    [
        # The soft limit most systems start with: serve raises its own to the hard limit.
        pytest.param(f"ulimit -S -n {DEFAULT_SOFT_LIMIT}", id="soft limit 1024"),
        # No room to raise: the longest-waiting connections are dropped for new ones.
        pytest.param(
            f"ulimit -S -n {DEFAULT_SOFT_LIMIT} && ulimit -H -n {DEFAULT_SOFT_LIMIT}",
            id="hard limit 1024",
        ),
    ],
)
def test_a_client_is_served_while_1200_half_open_requests_are_held(
    http: requests.Session, limits: str
) -> None:
    """
    1,200 connections holding half a request head (more than 1,024 descriptors) leave a
    normal client served at once; a thread per connection ran out of descriptors and
    stopped accepting anyone.
    """
    _raise_descriptor_limit(HALF_OPEN + 512)
    with _cli_emulator(limits) as handle:
        held = _open_half_requests(handle.url, HALF_OPEN)
        try:
            assert len(held) > DEFAULT_SOFT_LIMIT
            # A generous liveness bound, not a timing: the answer is immediate when it works.
            answer = http.get(handle.basic_url, timeout=5)
            assert answer.status_code == 401
            assert handle.count("basic") == 1
        finally:
            for sock in held:
                sock.close()


def _reply_within(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    chunks = []
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(PARTIAL_HEAD, id="slow head"),
        pytest.param(
            b"POST /api/v1/auth/jwt/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 100\r\n\r\ngrant_type=",
            id="stalled body",
        ),
    ],
)
def test_a_stalled_request_is_answered_408_and_closed(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle], partial: bytes
) -> None:
    """
    A head or a body that stops coming is dropped after its deadline, with a 408.
    """
    handle = spatiafi_emulator_factory(header_timeout=0.5, body_timeout=0.5)
    port = int(handle.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(partial)
        reply = _reply_within(sock, 10)  # the server closes; 10 s is only a liveness bound
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), reply[:200]
    assert b"connection: close" in reply


def test_a_silent_connection_is_closed_after_the_header_timeout(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    A connection that never sends a byte is closed without an answer.
    """
    handle = spatiafi_emulator_factory(header_timeout=0.5)
    port = int(handle.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _reply_within(sock, 10) == b""


def test_requests_split_across_many_writes_are_served(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    A request that arrives a few bytes at a time, and two requests in one write (pipelined),
    are answered in order on the same connection.
    """
    handle = spatiafi_emulator_factory()
    port = int(handle.url.rsplit(":", 1)[1])
    request = b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for index in range(0, len(request), 7):
            sock.sendall(request[index : index + 7])
        sock.sendall(request + request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        reply = _reply_within(sock, 10)
    assert reply.count(b"HTTP/1.1 404 Not Found\r\n") == 3
    assert handle.counters() == {"GET /nope": 3}


def test_expect_100_continue_gets_its_interim_answer(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    A client that waits for ``100 Continue`` before its body is not left waiting.
    """
    handle = spatiafi_emulator_factory()
    port = int(handle.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\nContent-Length: 2\r\n\r\n"
        )
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        assert _reply_within(sock, 10).startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_an_oversized_head_is_refused(emulator: EmulatorHandle) -> None:
    """
    A head that passes 64 KiB without ending gets 431 (each line alone is under the stdlib's
    64 KiB line limit); the server lives on.
    """
    head = b"GET / HTTP/1.1\r\nX-A: " + b"b" * 40000 + b"\r\nX-B: " + b"c" * 40000
    reply = raw_exchange(emulator.url, head)
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert emulator.info()["emulator"] == "spatiafi-ops"


def test_requests_beyond_the_workers_and_the_queue_get_503_at_once(
    spatiafi_emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """
    With every worker held by a latency fault and the queue full, a request is refused
    with 503 at once instead of waiting; the others are all answered.
    """
    handle = spatiafi_emulator_factory(faults=[Fault(route="basic", kind="latency", latency=0.5)])
    port = int(handle.url.rsplit(":", 1)[1])
    request = (
        b"GET /api/v1/auth/jwt/token/basic HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    offered = WORKERS + QUEUE_SIZE + 40
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(offered)]
    try:
        for sock in sockets:
            sock.sendall(request)
        replies = [_reply_within(sock, 30)[:12] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert replies.count(b"HTTP/1.1 503") >= 1
    assert replies.count(b"HTTP/1.1 503") + replies.count(b"HTTP/1.1 401") == offered
