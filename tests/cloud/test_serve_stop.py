"""``guardian-cloud serve`` stopped by SIGTERM (systemd, the demo) shuts down gracefully and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx

from tests.cloud.conftest import free_port
from tests.cloud.test_api import VENV_BIN, _env


def test_sigterm_is_a_clean_exit_0(tmp_path) -> None:
    cli = str(VENV_BIN / "guardian-cloud")
    env = _env(tmp_path, GUARDIAN_CLOUD_AUTH__COOKIE_SECURE="false")
    assert subprocess.run([cli, "migrate"], env=env, capture_output=True, timeout=60).returncode == 0
    port = free_port()
    proc = subprocess.Popen([cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Exit by signal shows as -15 here (and status=15/TERM under systemd).
    assert proc.returncode == 0, output[-2000:]
    events = [json.loads(line).get("event") for line in output.splitlines() if line.startswith("{")]
    assert "cloud_stopped" in events
    assert "Traceback" not in output
