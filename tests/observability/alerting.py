"""Alertmanager in the tests: a webhook receiver that keeps what Alertmanager POSTs, and a server
process awaited until its readiness endpoint answers (used by test_alertmanager.py and, in the WireGuard
lab, by test_fleet_alerts.py, where the receiver runs inside the relay's namespace:
``python -m tests.observability.alerting PORT`` prints each notification as a JSON line, stamped with
the monotonic clock at arrival, which every process of the machine shares)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class Webhook:
    """Alertmanager's webhook receiver: every notification's JSON body, in arrival order."""

    def __init__(self, port: int = 0) -> None:
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["received_monotonic"] = time.monotonic()
                received.put(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, status: str, timeout: float) -> tuple[dict[str, Any], float]:
        """The next notification with ``status`` (firing or resolved) and when it arrived (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.notifications.get(timeout=max(0.1, deadline - time.monotonic()))
            if body["status"] == status:
                return body, body["received_monotonic"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def process(args: list[str], ready_url: str) -> Iterator[None]:
    """A server process, once its readiness endpoint answers 200."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
            assert time.monotonic() < deadline, f"{args[0]} not ready"
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    """A receiver in another network namespace: one JSON line per notification on stdout."""
    webhook = Webhook(int(sys.argv[1]))
    print(json.dumps({"listening": webhook.url}), flush=True)
    while True:
        print(json.dumps(webhook.notifications.get()), flush=True)


if __name__ == "__main__":
    main()
