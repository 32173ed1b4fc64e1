"""The fleet as the operator's metrics see it: devices, cameras and relays, by id only (never a name or an
e-mail: a tenant's words stay out of Prometheus). Read once per scrape of ``/metrics`` (cloud.api.fleet_metrics
turns it into gauges) in five grouped queries whatever the fleet's size. Per-device rows only for devices
and cameras that need attention, so a healthy fleet of thousands stays a few series per tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.tables import Camera, Device, Relay

HEALTHY = "healthy"
CAMERA_DOWN = "failed"


@dataclass(frozen=True)
class DeviceState:
    tenant_id: str
    device_id: str
    relay_id: str  # "" before any relay reported the device
    status: str  # degraded | offline | unknown, as the device's relay last reported it
    last_seen: datetime | None


@dataclass(frozen=True)
class RelayState:
    relay_id: str
    enabled: bool
    last_seen: datetime | None  # the relay's last signed call to the cloud


@dataclass(frozen=True)
class Fleet:
    # (tenant id, status, agent version) -> devices
    devices: dict[tuple[str, str, str], int] = field(default_factory=dict)
    not_healthy: list[DeviceState] = field(default_factory=list)
    # (tenant id, camera state) -> cameras
    cameras: dict[tuple[str, str], int] = field(default_factory=dict)
    # (tenant id, device id) -> cameras down
    cameras_down: dict[tuple[str, str], int] = field(default_factory=dict)
    relays: list[RelayState] = field(default_factory=list)


def read_fleet(session: Session) -> Fleet:
    """Devices not revoked (counted; each one listed when not healthy), cameras (counted; per device when
    down), every relay."""
    enrolled = Device.revoked_at.is_(None)
    devices = {
        (tenant, status, version): count
        for tenant, status, version, count in session.execute(
            select(Device.tenant_id, Device.status, Device.agent_version, func.count()).where(enrolled)
            .group_by(Device.tenant_id, Device.status, Device.agent_version))
    }
    not_healthy = [
        DeviceState(tenant, device, relay or "", status, seen)
        for tenant, device, relay, status, seen in session.execute(
            select(Device.tenant_id, Device.id, Device.relay_id, Device.status, Device.last_seen_at)
            .where(enrolled, Device.status != HEALTHY))
    ]
    cameras = {
        (tenant, state): count
        for tenant, state, count in session.execute(
            select(Camera.tenant_id, Camera.state, func.count()).group_by(Camera.tenant_id, Camera.state))
    }
    cameras_down = {
        (tenant, device): count
        for tenant, device, count in session.execute(
            select(Camera.tenant_id, Camera.device_id, func.count()).where(Camera.state == CAMERA_DOWN)
            .group_by(Camera.tenant_id, Camera.device_id))
    }
    relays = [
        RelayState(relay, enabled, seen)
        for relay, enabled, seen in session.execute(select(Relay.id, Relay.enabled, Relay.last_seen_at))
    ]
    return Fleet(devices, not_healthy, cameras, cameras_down, relays)
