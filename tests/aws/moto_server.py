"""
moto's stand-alone AWS server on a free 127.0.0.1 port, in a process of its own.

`start()` runs this file as a script, which prints the port on stdout, then serves until its
stdin closes (so it ends with the process that started it); `stop()` closes that stdin. Its
own process keeps moto's hooks out of the botocore that the code under test uses: requests
travel over real HTTP. Used by tests/aws/conftest.py and the proof (`tests.aws.moto_server`);
benchmarks/bench_aws.py, a script, runs this file by its path.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path


class MotoDidNotStart(RuntimeError):
    """
    moto's server printed no port.
    """


def start() -> tuple[subprocess.Popen[str], str]:
    """
    Start moto's server in a child process; return the process and its URL.
    """
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        process.wait()
        raise MotoDidNotStart("moto's server did not start")
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[str]) -> None:
    """
    Close the server's stdin, so that it stops; kill it if it does not within 10 s.
    """
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    # moto only in the server's own process: its hooks stay out of the caller's botocore
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
