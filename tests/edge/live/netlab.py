"""The live-view topology of issue #18, built on the uplink lab (tests/relay/netlab.py: the relay and the
edge in their namespaces, WireGuard between them, the real ``guardian-relay`` / ``guardian-edge`` programs
with their production configs) plus a viewer namespace:

- ``viewer`` namespace: Chromium, started through a wrapper that enters it. Its one link goes to the
  relay namespace, and its one route beyond that link is to the relay's public address (the address the
  edge enrols and reaches WireGuard at): the browser reaches the relay and nothing else. The relay
  namespace does not forward, so the viewer and the edge have no path to each other but coturn.
- the camera: the GStreamer RTSP test camera inside the edge namespace, on its loopback (the camera LAN).
- a packet capture in a namespace (tests/netns.py), e.g. on the relay's WireGuard interface: what the
  relay host sees of the tunnel, decrypted.
Everything is torn down on exit, also after a failure (a namespace takes its veth ends with it).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

from tests.conftest import FAKE_CAMERA, SYSTEM_PYTHON
from tests.netns import call_in_netns

VIEWER_ADDRESS = "192.168.79.2"
RELAY_VIEWER_SIDE = "192.168.79.1"  # the relay's end of the viewer link (a next hop, not an endpoint)
ETH_P_ALL = 0x0003


def sh(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")


class ViewerNamespace:
    """``with ViewerNamespace(workdir, ns_relay, relay_public) as viewer:`` — Chromium at ``viewer.chromium``."""

    def __init__(self, workdir: Path, ns_relay: str, relay_public: str, lab_id: str) -> None:
        self.ns = f"glv-v-{lab_id}"
        self.ns_relay = ns_relay
        self.relay_public = relay_public
        self.relay_veth, self.viewer_veth = f"glp{lab_id}", f"glw{lab_id}"
        self.chromium = workdir / "chromium-in-viewer-ns"

    def __enter__(self) -> ViewerNamespace:
        try:
            sh("ip", "netns", "add", self.ns)
            sh("ip", "link", "add", self.relay_veth, "type", "veth", "peer", "name", self.viewer_veth)
            for ns, dev, address in ((self.ns_relay, self.relay_veth, RELAY_VIEWER_SIDE),
                                     (self.ns, self.viewer_veth, VIEWER_ADDRESS)):
                sh("ip", "link", "set", dev, "netns", ns)
                sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", self.ns, "link", "set", "lo", "up")
            sh("ip", "-n", self.ns, "route", "add", f"{self.relay_public}/32", "via", RELAY_VIEWER_SIDE)
            # Playwright starts this instead of Chromium: the browser lives in the viewer namespace.
            self.chromium.write_text(f"#!/bin/sh\nexec ip netns exec {self.ns} /usr/bin/chromium \"$@\"\n")
            self.chromium.chmod(0o755)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)  # takes both veth ends


class CameraInNamespace:
    """The RTSP test camera (agents/edge/video/fake_camera.py, as tests.conftest.FakeCamera runs it) on the
    loopback of namespace ``ns``."""

    def __init__(self, ns: str, footage: Path, port: int = 8554, mount: str = "/cam") -> None:
        self.ns, self.footage, self.port, self.mount = ns, footage, port, mount
        self.proc: subprocess.Popen[str] | None = None

    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def __enter__(self) -> CameraInNamespace:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, SYSTEM_PYTHON, str(FAKE_CAMERA), "--file", str(self.footage),
             "--port", str(self.port), "--mount", self.mount],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(15)
        if not line or not line[0].strip() or json.loads(line[0]).get("port") != self.port:
            self.__exit__()
            raise RuntimeError("the camera did not start in the edge namespace")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # `ip netns exec` execs: the pid is the camera's
            self.proc.wait(10)
        self.proc = None


class Capture:
    """Every frame on one interface of namespace ``ns`` (AF_PACKET), collected in a thread until :meth:`stop`."""

    def __init__(self, ns: str, interface: str) -> None:
        def open_socket() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((interface, 0))
            return sock

        self.sock = call_in_netns(ns, open_socket)
        self.sock.settimeout(0.2)
        self.frames: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.frames.append(self.sock.recv(65535))
            except TimeoutError:
                continue

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return b"".join(self.frames)
