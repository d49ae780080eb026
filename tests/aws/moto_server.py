"""
moto's stand-alone AWS server on a free 127.0.0.1 port, in a process of its own.

Run as a script: prints the port on stdout, then serves until its stdin closes (so it
ends with the process that started it). Its own process keeps moto's hooks out of the
botocore that the code under test uses: requests travel over real HTTP.
Used by tests/aws/conftest.py and benchmarks/bench_aws.py.
"""

from __future__ import annotations

import logging
import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
