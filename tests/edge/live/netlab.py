"""The live-view topology of issue #18 in network namespaces: the browser reaches only the relay's
public address, the edge only the relay's tunnel address, and the two have no route to each other.

- ``relay`` namespace: coturn (tests/relay/coturn.py), public address on a link to the viewer
  namespace, tunnel address on a link to the test's own namespace (the edge: this process, with the
  RTSP test camera on its loopback). Its allocations are on the tunnel address, and the template's peer
  rule admits only the tunnel network.
- ``viewer`` namespace: Chromium, started through a wrapper that enters it.
The tunnel subnet is picked per lab so parallel runs do not clash; everything is torn down on exit,
also after a failure (the namespaces take their veth ends with them; the root one goes with its peer).
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

VIEWER_ADDRESS = "192.168.79.2"
RELAY_PUBLIC = "192.168.79.1"


def sh(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")


class LiveLab:
    def __init__(self, workdir: Path) -> None:
        self.id = secrets.token_hex(3)
        self.ns_relay = f"glv-r-{self.id}"
        self.ns_viewer = f"glv-v-{self.id}"
        octet = 100 + secrets.randbelow(150)
        self.tunnel_network = f"10.{octet}.{secrets.randbelow(250)}.0/24"
        base = self.tunnel_network.rsplit(".", 1)[0]
        self.relay_tunnel, self.edge_tunnel = f"{base}.1", f"{base}.2"
        self.edge_veth = f"glt{self.id}"  # the edge's end of the tunnel link, in the test's namespace
        self.chromium = workdir / "chromium-in-viewer-ns"

    def __enter__(self) -> LiveLab:
        try:
            self._network()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _network(self) -> None:
        sh("ip", "netns", "add", self.ns_relay)
        sh("ip", "netns", "add", self.ns_viewer)
        relay_public, viewer = f"glp{self.id}", f"glw{self.id}"
        sh("ip", "link", "add", relay_public, "type", "veth", "peer", "name", viewer)
        for ns, dev, address in ((self.ns_relay, relay_public, RELAY_PUBLIC), (self.ns_viewer, viewer, VIEWER_ADDRESS)):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        relay_tunnel = f"glr{self.id}"
        sh("ip", "link", "add", self.edge_veth, "type", "veth", "peer", "name", relay_tunnel)
        sh("ip", "link", "set", relay_tunnel, "netns", self.ns_relay)
        sh("ip", "-n", self.ns_relay, "addr", "add", f"{self.relay_tunnel}/24", "dev", relay_tunnel)
        sh("ip", "-n", self.ns_relay, "link", "set", relay_tunnel, "up")
        sh("ip", "addr", "add", f"{self.edge_tunnel}/24", "dev", self.edge_veth)
        sh("ip", "link", "set", self.edge_veth, "up")
        # Playwright starts this instead of Chromium: the browser lives in the viewer namespace.
        self.chromium.write_text(f"#!/bin/sh\nexec ip netns exec {self.ns_viewer} /usr/bin/chromium \"$@\"\n")
        self.chromium.chmod(0o755)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.edge_veth], capture_output=True)
        for ns in (self.ns_viewer, self.ns_relay):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
