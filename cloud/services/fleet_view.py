"""The operator's fleet page: every relay and every enrolled device across tenants, with health, versions,
last report and the alerts firing about each. Ids only (tenant, relay, device): no e-mail, no tenant or
device name, no camera name, no event; cameras are counts. Four queries whatever the fleet's size; the
alerts come from :mod:`cloud.core.alertmanager` and are attached here by their ``device``/``relay`` labels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cloud.core.alertmanager import FiringAlert
from cloud.tables import Camera, Device, DeviceConfigReport, DeviceConfigVersion, Relay

# An enabled relay signs a call to the cloud at least every 30 s; the "relay down" rule waits 180 s too.
RELAY_SILENT_AFTER = timedelta(seconds=180)
CAMERA_UP, CAMERA_DOWN = "streaming", "failed"


@dataclass
class FleetRelay:
    id: str
    name: str
    endpoint_url: str
    tenant_id: str | None
    status: str  # online | silent (no call for RELAY_SILENT_AFTER) | never_seen | disabled
    last_seen_at: datetime | None
    agent_version: str  # "" until a relay of this release has called
    devices: int
    alerts: list[FiringAlert] = field(default_factory=list)


@dataclass
class FleetDevice:
    id: str
    tenant_id: str
    relay_id: str | None
    status: str  # healthy | degraded | offline | unknown, as its relay last reported (the tenant's badge)
    agent_version: str
    desired_config_version: int
    applied_config_version: int
    last_seen_at: datetime | None
    cameras_up: int
    cameras_down: int
    cameras_total: int
    alerts: list[FiringAlert] = field(default_factory=list)


@dataclass
class FleetView:
    relays: list[FleetRelay]
    devices: list[FleetDevice]
    other_alerts: list[FiringAlert] = field(default_factory=list)  # about neither a listed device nor relay


def relay_status(enabled: bool, last_seen: datetime | None, now: datetime) -> str:
    if not enabled:
        return "disabled"
    if last_seen is None:
        return "never_seen"
    return "online" if now - last_seen <= RELAY_SILENT_AFTER else "silent"


def read_fleet_view(session: Session, now: datetime) -> FleetView:
    """Relays by name, devices by tenant then id (revoked devices are gone from the fleet)."""
    enrolled = Device.revoked_at.is_(None)
    cameras: dict[str, tuple[int, int, int]] = {
        device: (int(up), int(down), int(total))
        for device, up, down, total in session.execute(
            select(Camera.device_id,
                   func.sum(case((Camera.state == CAMERA_UP, 1), else_=0)),
                   func.sum(case((Camera.state == CAMERA_DOWN, 1), else_=0)),
                   func.count())
            .group_by(Camera.device_id))
    }
    desired = dict(session.execute(
        select(DeviceConfigVersion.device_id, func.max(DeviceConfigVersion.version))
        .group_by(DeviceConfigVersion.device_id)).all())
    devices = [
        FleetDevice(id=d.id, tenant_id=d.tenant_id, relay_id=d.relay_id, status=d.status,
                    agent_version=d.agent_version, desired_config_version=desired.get(d.id, 0),
                    applied_config_version=applied or 0, last_seen_at=d.last_seen_at,
                    cameras_up=cameras.get(d.id, (0, 0, 0))[0], cameras_down=cameras.get(d.id, (0, 0, 0))[1],
                    cameras_total=cameras.get(d.id, (0, 0, 0))[2])
        for d, applied in session.execute(
            select(Device, DeviceConfigReport.applied_version)
            .outerjoin(DeviceConfigReport, DeviceConfigReport.device_id == Device.id)
            .where(enrolled).order_by(Device.tenant_id, Device.id))
    ]
    per_relay: dict[str, int] = defaultdict(int)
    for device in devices:
        if device.relay_id is not None:
            per_relay[device.relay_id] += 1
    relays = [
        FleetRelay(id=r.id, name=r.name, endpoint_url=r.endpoint_url, tenant_id=r.tenant_id,
                   status=relay_status(r.enabled, r.last_seen_at, now), last_seen_at=r.last_seen_at,
                   agent_version=r.agent_version, devices=per_relay[r.id])
        for r in session.scalars(select(Relay).order_by(Relay.name))
    ]
    return FleetView(relays, devices)


def attach_alerts(view: FleetView, alerts: list[FiringAlert]) -> FleetView:
    """Each alert to the device its ``device`` label names, else to the relay its ``relay`` label names,
    else to ``other_alerts`` (the cloud down, an edge scraped without fleet labels, a device not listed)."""
    devices = {d.id: d for d in view.devices}
    relays = {r.id: r for r in view.relays}
    for alert in alerts:
        if alert.device in devices:
            devices[alert.device].alerts.append(alert)
        elif not alert.device and alert.relay in relays:
            relays[alert.relay].alerts.append(alert)
        else:
            view.other_alerts.append(alert)
    return view
