"""``guardian-edge detector run`` as systemd runs a Type=notify unit: READY=1 after set-up, before the
model is compiled (which can take minutes on a first boot), with STATUS= saying it is loading and then
what it detects with; without a model READY=1 all the same with a STATUS= saying what is missing — no hang, no
restart loop — and detection starts by itself once a model is in the store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from demo import configs
from tests.edge.detection.services import EdgeProcess, wait_for


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def _config(tmp_path: Path, store: Path) -> Path:
    return configs.write_edge(tmp_path / "edge.toml", {
        "log_level": "info",
        "storage": {"data_dir": tmp_path / "data"},
        "models": {"store_dir": store, "reload_interval_s": 0.5},
    })


def _receive(sock: socket.socket, until: str, timeout: float, seen: list[str], proc: EdgeProcess) -> str:
    """Collect sd_notify lines into ``seen`` until one starts with ``until``; returns that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lines = sock.recv(4096).decode().splitlines()
        except TimeoutError:
            if not proc.alive():
                raise AssertionError(f"exited ({proc.started.returncode}) before {until}; got {seen}:\n"
                                     f"{proc.log()[-2000:]}") from None
            continue
        seen.extend(lines)
        for line in lines:
            if line.startswith(until):
                return line
    raise AssertionError(f"no {until} within {timeout} s; got {seen}:\n{proc.log()[-2000:]}")


def test_ready_then_the_model_loads_in_the_background(tmp_path, notify_socket, model_store):
    path, sock = notify_socket
    detector = EdgeProcess("detector", _config(tmp_path, model_store.root), tmp_path,
                           extra_env={"NOTIFY_SOCKET": str(path)}).start()
    seen: list[str] = []
    try:
        _receive(sock, "READY=1", 60, seen, detector)
        loading = _receive(sock, "STATUS=", 10, seen, detector)
        assert loading.startswith("STATUS=loading the model nanodet"), loading
        status = _receive(sock, "STATUS=detecting", 60, seen, detector)
        assert "detecting with nanodet@v1" in status
        assert '"event": "model_loaded"' in detector.log()
        # READY came first: the order systemd saw was READY, loading, detecting.
        assert seen.index("READY=1") < seen.index(loading) < seen.index(status)
        assert detector.metric("guardian_edge_detection_model_loaded") == 1
        detector.started.send_signal(signal.SIGTERM)
        _receive(sock, "STOPPING=1", 10, seen, detector)
        assert detector.started.wait(30) == 0
    finally:
        if detector.alive():
            detector.kill()


def test_without_a_model_ready_with_a_clear_status_then_detects_once_a_model_arrives(
    tmp_path, notify_socket, model_store
):
    path, sock = notify_socket
    store = tmp_path / "models"  # empty: the box was built or reset without a model
    detector = EdgeProcess("detector", _config(tmp_path, store), tmp_path,
                           extra_env={"NOTIFY_SOCKET": str(path)}).start()
    seen: list[str] = []
    try:
        _receive(sock, "READY=1", 60, seen, detector)
        status = _receive(sock, "STATUS=waiting for a model", 10, seen, detector)
        assert "guardian-edge models fetch yolox-nano" in status and str(store) in status  # the default model
        assert detector.metric("guardian_edge_detection_model_loaded") == 0
        time.sleep(2)  # still up, not failing or restarting
        assert detector.alive()
        # `guardian-edge models fetch` (or the relay) puts a model in the store; an atomic rename here.
        staging = tmp_path / ".models-incoming"
        shutil.copytree(model_store.root, staging)
        os.rename(staging, store)
        status = _receive(sock, "STATUS=detecting", 30, seen, detector)
        assert "nanodet@v1" in status
        wait_for(lambda: detector.metric("guardian_edge_detection_model_loaded") == 1, 10, "model_loaded = 1")
        assert detector.stop() == 0
    finally:
        if detector.alive():
            detector.kill()
    assert "Traceback" not in detector.log()
