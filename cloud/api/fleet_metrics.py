"""The fleet gauges ``/metrics`` adds to the process's own metrics, computed per scrape from
:func:`cloud.services.fleet.read_fleet`. Labels are ids only (tenant, relay, device): no camera names, no
e-mails. Several cloud processes serve the same gauges; the alert rules take the ``max`` over instances."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cloud.services.fleet import Fleet

PREFIX = "guardian_cloud_fleet"


class FleetCollector(Collector):
    """One scrape's fleet, as Prometheus gauge families (empty families when the fleet is empty, so the
    names are always listed)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fleet = self.fleet
        devices = GaugeMetricFamily(
            f"{PREFIX}_devices", "Devices by status and agent version.", labels=("tenant", "status", "version"))
        for (tenant, state, version), count in sorted(fleet.devices.items()):
            devices.add_metric((tenant, state, version), count)
        status = GaugeMetricFamily(
            f"{PREFIX}_device_status",
            "1 for each device that is not healthy, with the status its relay last reported.",
            labels=("tenant", "relay", "device", "status"))
        seen = GaugeMetricFamily(
            f"{PREFIX}_device_last_seen_timestamp_seconds",
            "When the relay last heard from each device that is not healthy (unix time).",
            labels=("tenant", "relay", "device"))
        for d in fleet.not_healthy:
            status.add_metric((d.tenant_id, d.relay_id, d.device_id, d.status), 1)
            if d.last_seen is not None:
                seen.add_metric((d.tenant_id, d.relay_id, d.device_id), d.last_seen.timestamp())
        cameras = GaugeMetricFamily(
            f"{PREFIX}_cameras", "Cameras by the state their device last reported.", labels=("tenant", "state"))
        for (tenant, state), count in sorted(fleet.cameras.items()):
            cameras.add_metric((tenant, state), count)
        down = GaugeMetricFamily(
            f"{PREFIX}_cameras_down", "Cameras whose stream failed, per device that has any.",
            labels=("tenant", "device"))
        for (tenant, device), count in sorted(fleet.cameras_down.items()):
            down.add_metric((tenant, device), count)
        enabled = GaugeMetricFamily(f"{PREFIX}_relay_enabled", "1 for an enabled relay, 0 for a disabled one.",
                                    labels=("relay",))
        relay_seen = GaugeMetricFamily(
            f"{PREFIX}_relay_last_seen_timestamp_seconds", "The relay's last signed call to the cloud (unix time).",
            labels=("relay",))
        for r in fleet.relays:
            enabled.add_metric((r.relay_id,), 1 if r.enabled else 0)
            if r.last_seen is not None:
                relay_seen.add_metric((r.relay_id,), r.last_seen.timestamp())
        yield from (devices, status, seen, cameras, down, enabled, relay_seen)


def fleet_exposition(fleet: Fleet) -> bytes:
    """The Prometheus text of the fleet gauges."""
    registry = CollectorRegistry(auto_describe=False)  # no collect() at register: one read per scrape
    registry.register(FleetCollector(fleet))
    return generate_latest(registry)
