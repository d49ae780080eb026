"""
A fault-injecting HTTP proxy for moto's server: AWS's transient errors, which moto cannot make.

Imported by tests/aws; run as a script by benchmarks/_proof_secretstore.py
(``python faulty_proxy.py UPSTREAM RATE SEED``: prints its port, serves until stdin closes).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultyProxy:
    """
    An HTTP proxy on 127.0.0.1 in front of moto's server that fails a share of requests
    the way AWS does now and then (moto cannot): throttling, or a 500 either before the
    request reaches moto or after (the answer lost: the call took effect).
    """

    FAULTS = (
        (400, "ThrottlingException", False),
        (500, "InternalServiceError", False),
        (503, "ServiceUnavailable", True),
    )

    def __init__(self, upstream: str, rate: float, seed: int = 7) -> None:
        self.rate = rate
        self.injected = 0
        self.forwarded = 0
        random_ = random.Random(seed)
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    fault = random_.choice(proxy.FAULTS) if random_.random() < proxy.rate else None
                    proxy.injected += fault is not None
                status, answer = 0, b""
                if fault is None or fault[2]:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    request = urllib.request.Request(upstream + self.path, body, headers)
                    try:
                        with urllib.request.urlopen(request, timeout=30) as response:
                            status, answer = response.status, response.read()
                    except urllib.error.HTTPError as exc:
                        status, answer = exc.code, exc.read()
                    with lock:
                        proxy.forwarded += 1
                if fault is not None:
                    status, answer = (
                        fault[0],
                        json.dumps({"__type": fault[1], "message": "injected"}).encode(),
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    upstream, rate, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    proxy = FaultyProxy(upstream, rate, seed)
    print(proxy.url.rsplit(":", 1)[1], flush=True)
    sys.stdin.read()
    print(json.dumps({"injected": proxy.injected, "forwarded": proxy.forwarded}), flush=True)
    proxy.close()


if __name__ == "__main__":
    main()
