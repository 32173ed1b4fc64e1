"""The edge end of the WireGuard tunnel: one peer (the relay), persistent keepalive, self-healing.

Only the relay's tunnel address is routed into the tunnel (allowed IPs = that one /32). The monitor
recreates the interface if it vanished and re-applies the peer (re-resolving the relay's endpoint)
when the handshake goes stale, so the tunnel comes back by itself after a partition or a relay move.
"""

from __future__ import annotations

import time

from agents.common.wireguard import HANDSHAKE_STALE_S, Peer, WireGuardInterface, ensure_keypair
from agents.edge.config import EdgeSettings
from agents.edge.enrolment import Enrolment, key_path
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.tunnel")


class EdgeTunnel:
    def __init__(self, settings: EdgeSettings, enrolment: Enrolment, metrics: AgentMetrics) -> None:
        self.enrolment = enrolment
        keyfile = key_path(settings)
        ensure_keypair(keyfile)
        self.interface = WireGuardInterface(
            settings.uplink.interface,
            keyfile,
            f"{enrolment.tunnel_address}/{enrolment.tunnel_prefix}",
            implementation=settings.uplink.implementation,
        )
        self.peer = Peer(
            enrolment.relay_public_key,
            (f"{enrolment.relay_tunnel_address}/32",),
            endpoint=enrolment.relay_endpoint,
            keepalive_s=enrolment.keepalive_s,
        )
        self.rtt_ms = 0.0
        self.handshake_age = metrics.gauge("tunnel", "handshake_age_seconds", "Seconds since the last handshake.")
        self.rx = metrics.gauge("tunnel", "rx_bytes", "Bytes received through the tunnel.")
        self.tx = metrics.gauge("tunnel", "tx_bytes", "Bytes sent through the tunnel.")
        self.rtt = metrics.gauge("tunnel", "rtt_seconds", "Heartbeat round trip to the relay through the tunnel.")
        self.repairs = metrics.counter("tunnel", "repairs_total", "Times the tunnel was re-established.", ("why",))
        for why in ("interface_missing", "handshake_stale"):
            self.repairs.labels(why)

    def up(self) -> None:
        self.interface.up()
        self.interface.set_peer(self.peer)
        log.info("tunnel_up", interface=self.interface.name, address=self.enrolment.tunnel_address)

    def health(self) -> uplink_pb2.TunnelHealth:
        status = self.interface.status().peers.get(self.peer.public_key)
        if status is None:
            return uplink_pb2.TunnelHealth(handshake_age_s=-1, rtt_ms=self.rtt_ms)
        age = status.handshake_age()
        return uplink_pb2.TunnelHealth(
            handshake_age_s=age if age is not None else -1,
            rx_bytes=status.rx_bytes,
            tx_bytes=status.tx_bytes,
            rtt_ms=self.rtt_ms,
        )

    def check(self) -> uplink_pb2.TunnelHealth:
        """Repair what is broken, update the metrics; returns the health for telemetry."""
        if not self.interface.exists():
            log.warning("tunnel_interface_missing", interface=self.interface.name)
            self.repairs.labels("interface_missing").inc()
            self.up()
        health = self.health()
        if health.handshake_age_s > HANDSHAKE_STALE_S or health.handshake_age_s < 0:
            # Not necessarily broken (a first handshake may be pending), but re-applying the peer is
            # cheap and re-resolves the endpoint; WireGuard retries the handshake on the next packet.
            if health.handshake_age_s > HANDSHAKE_STALE_S:
                self.repairs.labels("handshake_stale").inc()
                log.warning("tunnel_handshake_stale", age_s=round(health.handshake_age_s))
            self.interface.set_peer(self.peer)
        self.handshake_age.set(max(health.handshake_age_s, 0))
        self.rx.set(health.rx_bytes)
        self.tx.set(health.tx_bytes)
        self.rtt.set(self.rtt_ms / 1000)
        return health

    def wait_handshake(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health().handshake_age_s >= 0:
                return True
            time.sleep(0.1)
        return False
