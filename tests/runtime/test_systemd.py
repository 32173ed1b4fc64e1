"""The agents speak sd_notify as systemd expects: READY, then WATCHDOG pings, then STOPPING on SIGTERM."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def receive_until(sock: socket.socket, wanted: str, deadline_s: float, seen: list[str]) -> None:
    """Collect datagrams into ``seen`` until one contains ``wanted`` (fails after the deadline)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            continue
        seen.extend(message.splitlines())
        if wanted in message.splitlines():
            return
    pytest.fail(f"{wanted} not received within {deadline_s}s; got {seen}")


def test_ready_watchdog_stopping_in_order_and_sigterm_ends_cleanly(
    notify_socket, edge_cli, clean_env, minimal_edge_config
):
    path, sock = notify_socket
    # WATCHDOG_USEC=1s: the agent must ping every 0.5 s.
    env = {**clean_env, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [*edge_cli, "recorder", "run", "--config", str(minimal_edge_config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        receive_until(sock, "READY=1", 60, seen)
        ready_at = len(seen)
        for _ in range(3):
            receive_until(sock, "WATCHDOG=1", 5, seen)
        proc.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", 10, seen)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "WATCHDOG=1" not in seen[:ready_at], "watchdog pings must start after READY"
    assert seen.index("STOPPING=1") > max(i for i, m in enumerate(seen) if m == "WATCHDOG=1")
    assert "Traceback" not in stderr
    assert '"event": "agent_stopped"' in stdout


def test_runs_without_notify_socket(edge_cli, clean_env, minimal_edge_config):
    proc = subprocess.Popen(
        [*edge_cli, "recorder", "run", "--config", str(minimal_edge_config)],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout = proc.stdout
    assert stdout is not None  # stdout=PIPE
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready and proc.poll() is None:
            if select.select([stdout], [], [], 1.0)[0]:
                ready = '"event": "agent_ready"' in stdout.readline()
        assert ready
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
