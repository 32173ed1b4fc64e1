"""Run the real app under uvicorn in a thread (for streaming and browser-like redirects)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.cloud.conftest import free_port


@contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` under uvicorn (plain HTTP on loopback) in a thread of this process; yields its base URL.
    ``port``: a fixed one (e.g. to bring the same server back after an outage), else a free one."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
