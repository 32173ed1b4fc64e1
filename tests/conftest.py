"""Fixtures every area may use: the asset cache and the real RTSP test camera."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
FAKE_CAMERA = ROOT / "agents" / "edge" / "video" / "fake_camera.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The asset cache filled by scripts/setup.sh ($GUARDIAN_CACHE or ~/.cache/guardian)."""
    return Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))


@pytest.fixture(scope="session")
def footage_mp4(assets_dir: Path) -> Path:
    path = assets_dir / "vtest.mp4"
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/setup.sh (scripts/setup.d/20-video.sh)")
    return path


class FakeCamera:
    """The real GStreamer RTSP server (``agents/edge/video/fake_camera.py`` under the system Python)
    looping real footage. It keeps its port across :meth:`stop`/:meth:`start`, so a client sees an
    outage and then the same camera coming back; :meth:`pause`/:meth:`resume` freeze it (SIGSTOP):
    connections stay open but no data flows, i.e. a stalled camera."""

    def __init__(self, footage: Path, mounts: tuple[str, ...] = ("/cam",), count: int = 0,
                 user: str | None = None, password: str | None = None, netns: str | None = None,
                 port: int | None = None, address: str = "127.0.0.1") -> None:
        self.footage = footage
        self.address = address  # where it listens (an image booted on a bridge reaches it at the host's address)
        self.mounts = mounts
        self.count = count
        self.user = user
        self.password = password
        self.netns = netns  # run inside this network namespace (`ip netns exec`, which execs the server)
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, mount: str = "/cam", user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user is not None else ""
        return f"rtsp://{cred}{self.address}:{self.port}{mount}"

    def start(self, timeout: float = 15.0) -> None:
        args = [SYSTEM_PYTHON, str(FAKE_CAMERA), "--file", str(self.footage), "--port", str(self.port),
                "--address", self.address]
        if self.netns is not None:
            args = ["ip", "netns", "exec", self.netns, *args]
        for mount in self.mounts:
            args += ["--mount", mount]
        if self.count:
            args += ["--count", str(self.count)]
        env = dict(os.environ)
        if self.user is not None:
            args += ["--user", self.user]
            env["FAKE_CAMERA_PASSWORD"] = self.password or ""
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        stdout = self.proc.stdout
        assert stdout is not None  # stdout=PIPE
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].strip():
            self.stop()
            raise RuntimeError("fake camera did not start")
        assert json.loads(ready[0])["port"] == self.port

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()  # an outage is abrupt: connections drop without a goodbye
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def fake_camera(footage_mp4: Path) -> Iterator[FakeCamera]:
    """A running test camera at ``fake_camera.url()`` (mount ``/cam``), stopped after the test."""
    camera = FakeCamera(footage_mp4)
    camera.start()
    yield camera
    camera.stop()


@pytest.fixture
def fake_camera_factory(footage_mp4: Path) -> Iterator[type]:
    """Build more cameras (auth, several mounts): ``fake_camera_factory(user=…, password=…)``; all
    are stopped after the test."""
    made: list[FakeCamera] = []

    def make(**kwargs: object) -> FakeCamera:
        camera = FakeCamera(footage_mp4, **kwargs)  # type: ignore[arg-type]
        camera.start()
        made.append(camera)
        return camera

    yield make  # type: ignore[misc]
    for camera in made:
        camera.stop()
