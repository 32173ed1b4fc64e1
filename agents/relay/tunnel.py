"""The relay end of the WireGuard tunnels: one interface, one peer per enrolled (not revoked) device.

The registry in SQLite is the truth; :meth:`RelayTunnel.reconcile` makes the interface match it (and
recreates the interface if it vanished, e.g. wireguard-go was killed), so enrolment, rotation and
revocation by another process (the CLI) take effect within one reconcile interval.
"""

from __future__ import annotations

import ipaddress
import time

from agents.common.wireguard import HANDSHAKE_STALE_S, Peer, WireGuardInterface, ensure_keypair
from agents.relay.config import TunnelSettings
from agents.relay.registry import Registry
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.tunnel")


class RelayTunnel:
    def __init__(self, settings: TunnelSettings, registry: Registry, metrics: AgentMetrics) -> None:
        self.settings = settings
        self.registry = registry
        prefix = ipaddress.ip_network(settings.network).prefixlen
        self.public_key = ensure_keypair(settings.private_key_file)
        self.interface = WireGuardInterface(
            settings.interface,
            settings.private_key_file,
            f"{settings.relay_address}/{prefix}",
            listen_port=settings.listen_port,
            implementation=settings.implementation,
        )
        self.peers_gauge = metrics.gauge("tunnel", "peers", "WireGuard peers configured.")
        self.handshake_age = metrics.gauge(
            "tunnel", "handshake_age_seconds", "Seconds since the last handshake per device.", ("device",)
        )
        self.rx = metrics.gauge("tunnel", "rx_bytes", "Bytes received from the device's peer.", ("device",))
        self.tx = metrics.gauge("tunnel", "tx_bytes", "Bytes sent to the device's peer.", ("device",))
        self.recreated = metrics.counter("tunnel", "recreated_total", "Times the interface had to be recreated.")

    def up(self) -> None:
        self.interface.up()
        self.reconcile()

    def reconcile(self) -> None:
        if not self.interface.exists():
            log.warning("wireguard_interface_missing", interface=self.interface.name)
            self.recreated.inc()
            self.interface.up()
        devices = self.registry.active_devices()
        desired = [Peer(d.public_key, (f"{d.tunnel_address}/32",)) for d in devices]
        added, removed = self.interface.sync_peers(desired)
        if added or removed:
            log.info("wireguard_peers_synced", added=added, removed=removed, peers=len(desired))
        self.peers_gauge.set(len(desired))
        status = self.interface.status()
        now = time.time()
        for device in devices:
            peer = status.peers.get(device.public_key)
            if peer is None:
                continue
            age = peer.handshake_age(now)
            self.handshake_age.labels(device.device_id).set(age if age is not None else HANDSHAKE_STALE_S * 10)
            self.rx.labels(device.device_id).set(peer.rx_bytes)
            self.tx.labels(device.device_id).set(peer.tx_bytes)
