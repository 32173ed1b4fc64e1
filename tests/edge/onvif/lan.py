"""A camera LAN for the ONVIF tests and the discovery benchmark: two network namespaces, one veth.

WS-Discovery is multicast, and the library leaves loopback out (as it should: cameras are on a LAN), so
the edge and the cameras each get a namespace with an address on a shared link. In the camera namespace
run the project's RTSP fake camera (GStreamer, real footage) and any number of simulated ONVIF cameras
(``tests/fakes/onvif_camera.py``); commands of the edge run in the edge namespace (``run_edge``).
Names carry a per-lab id so parallel runs do not clash; everything is torn down on exit, also after a
failure: the processes it started (by pid), then the namespaces (which takes the veth with them).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SYSTEM_PYTHON = "/usr/bin/python3"
FAKE_RTSP_CAMERA = ROOT / "agents" / "edge" / "video" / "fake_camera.py"
CAMERA_ADDRESS = "192.168.88.10"
EDGE_ADDRESS = "192.168.88.2"
RTSP_PORT = 8554


def sh(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")


class CameraLan:
    def __init__(self) -> None:
        self.id = secrets.token_hex(3)
        self.ns_camera = f"gon-c-{self.id}"
        self.ns_edge = f"gon-e-{self.id}"
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> CameraLan:
        try:
            self._network()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _network(self) -> None:
        veth_camera, veth_edge = f"voc{self.id}", f"voe{self.id}"
        sh("ip", "netns", "add", self.ns_camera)
        sh("ip", "netns", "add", self.ns_edge)
        sh("ip", "link", "add", veth_camera, "type", "veth", "peer", "name", veth_edge)
        for ns, dev, address in ((self.ns_camera, veth_camera, CAMERA_ADDRESS), (self.ns_edge, veth_edge, EDGE_ADDRESS)):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _start(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> dict[str, object]:
        """Start ``args`` in the camera namespace and return its JSON ready line."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns_camera, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
        self.procs.append(proc)
        stdout = proc.stdout
        assert stdout is not None  # stdout=PIPE
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)  # the ready line is the event; the timeout only bounds a broken start
        if not ready or not ready[0].strip():
            raise RuntimeError(f"{args[:3]} did not start in the camera namespace")
        line: dict[str, object] = json.loads(ready[0])
        return line

    def start_rtsp_camera(self, footage: Path) -> str:
        """The GStreamer RTSP fake camera on the LAN; returns its stream URL."""
        self._start([SYSTEM_PYTHON, str(FAKE_RTSP_CAMERA), "--file", str(footage), "--address", CAMERA_ADDRESS,
                     "--port", str(RTSP_PORT), "--mount", "/cam"])
        return f"rtsp://{CAMERA_ADDRESS}:{RTSP_PORT}/cam"

    def start_onvif_camera(self, rtsp_url: str, *, user: str | None = None, password: str = "",
                           width: int = 768, height: int = 576) -> str:
        """A simulated ONVIF camera (answering WS-Discovery) whose profile streams ``rtsp_url``; returns
        its device service URL."""
        args = [sys.executable, "-m", "tests.fakes.onvif_camera", "--address", CAMERA_ADDRESS,
                "--rtsp-url", rtsp_url, "--width", str(width), "--height", str(height)]
        if user is not None:
            args += ["--user", user]
        ready = self._start(args, env={"ONVIF_CAMERA_PASSWORD": password})
        return str(ready["xaddr"])

    def run_edge(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a command in the edge namespace."""
        return subprocess.run(["ip", "netns", "exec", self.ns_edge, *args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, cwd=ROOT, timeout=timeout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # `ip netns exec` execs the program: this is its pid
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()
        for ns in (self.ns_camera, self.ns_edge):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
