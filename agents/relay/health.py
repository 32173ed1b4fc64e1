"""Per-device status from the uplink: healthy, degraded, offline or revoked, and the DeviceHealth the
cloud gets.

revoked: revoked at this relay (locally, or from the cloud's list); the cloud revokes a device reported
so, which is how a local ``guardian-relay device revoke`` reaches it.
offline: nothing heard from the device (not even a heartbeat) for ``offline_after_s``.
degraded: heard from, but the last telemetry shows a failed camera, a nearly full disk, a long outbox
or a stale tunnel handshake. healthy: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.common.wireguard import HANDSHAKE_STALE_S
from agents.relay.config import HealthSettings
from agents.relay.db.tables import Device, utcnow
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.metrics import AgentMetrics

_STATUS = {
    "healthy": ingest_pb2.DeviceHealth.HEALTHY,
    "degraded": ingest_pb2.DeviceHealth.DEGRADED,
    "offline": ingest_pb2.DeviceHealth.OFFLINE,
    "revoked": ingest_pb2.DeviceHealth.REVOKED,
}


@dataclass(frozen=True)
class Assessment:
    status: str
    reason: str


def assess(device: Device, settings: HealthSettings, now: datetime) -> Assessment:
    if device.revoked_at is not None:
        return Assessment("revoked", "revoked")
    if device.last_seen is None:
        return Assessment("offline", "never connected")
    silent = (now - device.last_seen).total_seconds()
    if silent > settings.offline_after_s:
        return Assessment("offline", f"no contact for {int(silent)} s")
    reasons = []
    if device.last_telemetry:
        t = uplink_pb2.Telemetry.FromString(device.last_telemetry)
        failed = [c.camera for c in t.cameras if c.state == "failed"]
        if failed:
            reasons.append("camera failed: " + ", ".join(sorted(failed)))
        if t.disk_used_percent > settings.degraded_disk_percent:
            reasons.append(f"disk {t.disk_used_percent:.0f}% full")
        if t.outbox_length > settings.degraded_outbox_length:
            reasons.append(f"{t.outbox_length} items waiting to be sent")
        if t.HasField("tunnel") and t.tunnel.handshake_age_s > HANDSHAKE_STALE_S:
            reasons.append("tunnel handshake stale")
    return Assessment("degraded", "; ".join(reasons)) if reasons else Assessment("healthy", "")


def to_device_health(device: Device) -> ingest_pb2.DeviceHealth:
    health = ingest_pb2.DeviceHealth(
        device_id=device.device_id,
        status=_STATUS.get(device.status, ingest_pb2.DeviceHealth.STATUS_UNSPECIFIED),
        agent_version=device.agent_version,
        reason=device.status_reason,
    )
    if device.last_seen is not None:
        health.last_seen.FromDatetime(device.last_seen)
    if device.last_telemetry:
        for camera in uplink_pb2.Telemetry.FromString(device.last_telemetry).cameras:
            item = health.cameras.add(camera=camera.camera, state=camera.state, fps=camera.fps,
                                      bitrate_bps=camera.bitrate_bps, reason=camera.reason)
            if camera.HasField("last_frame_at"):
                item.last_frame_at.CopyFrom(camera.last_frame_at)
    return health


class HealthMonitor:
    def __init__(self, sessions: sessionmaker, settings: HealthSettings, metrics: AgentMetrics) -> None:
        self.sessions = sessions
        self.settings = settings
        self.gauge = metrics.gauge("devices", "by_status", "Enrolled devices per status.", ("status",))
        for status in _STATUS:
            self.gauge.labels(status)

    def evaluate(self, now: datetime | None = None) -> list[ingest_pb2.DeviceHealth]:
        """Update every device's status; return the reports due (status changed or interval passed)."""
        now = now or utcnow()
        due: list[ingest_pb2.DeviceHealth] = []
        counts = dict.fromkeys(_STATUS, 0)
        with self.sessions() as session, session.begin():
            for device in session.scalars(select(Device)):
                result = assess(device, self.settings, now)
                device.status, device.status_reason = result.status, result.reason
                counts[result.status] += 1
                stale = device.health_reported_at is None or now - device.health_reported_at > timedelta(
                    seconds=self.settings.report_interval_s
                )
                if device.health_reported_status != result.status or stale:
                    due.append(to_device_health(device))
        for status, count in counts.items():
            self.gauge.labels(status).set(count)
        return due

    def mark_reported(self, reports: list[ingest_pb2.DeviceHealth], now: datetime | None = None) -> None:
        now = now or utcnow()
        names = {v: k for k, v in _STATUS.items()}
        with self.sessions() as session, session.begin():
            for report in reports:
                device = session.get(Device, report.device_id)
                if device is not None:
                    device.health_reported_at = now
                    device.health_reported_status = names.get(report.status, "")
