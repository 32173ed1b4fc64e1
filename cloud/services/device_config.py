"""Desired configuration of devices (issue #17): numbered versions saved by tenant admins, handed to relays,
and the state devices report back.

The model balena and Kubernetes use: each save is a new version (1, 2, 3 … per device) of a whole
``guardian.edge.v1.DesiredConfig``, stored in the proto3 JSON mapping exactly as relays receive it; the
last :data:`VERSIONS_KEPT` are kept. A save names the version it was edited from (``base_version``): when
another admin saved in between it is refused (409 ``version_conflict``); saving what the newest version
already holds changes nothing. Saves of one tenant are serialised on the tenant's row, so their ``seq``
(the relays' cursor) grows in commit order and a relay polling with it never skips one. Each save is
announced on the bus (delivered after commit): the tenant's relays waiting in a long poll get it at once.

Camera credentials never reach the cloud in the clear: the browser seals them to the device's config key
(an X25519 sealed box) and only the ciphertext is stored. A URL with a user:password part is refused
(422 ``credentials_in_url``); sealed credentials must name the key the device last reported (409
``stale_config_key``, or ``no_config_key`` before it reported one). The same holds for the password of the
optional ``mqtt`` section (the site's MQTT broker, which the edge reaches on its LAN): sealed, or none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import json_format
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.core.bus import EventBus
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict
from cloud.services.plan import plan_for
from cloud.tables import Camera, Device, DeviceConfigReport, DeviceConfigVersion, Tenant
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.logging import get_logger, redact_text

log = get_logger("cloud.device_config")

VERSIONS_KEPT = 20
MAX_CAMERAS = 16
RELAY_PAGE = 200
CONFIG_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CredentialsInUrl(ApiError):
    status = 422
    code = "credentials_in_url"


@dataclass(frozen=True)
class Reported:
    """What the device last reported (all zero and empty before its first report)."""

    applied_version: int = 0
    refused_version: int = 0
    refused_reason: str = ""
    cameras: tuple[dict[str, str], ...] = ()
    reported_at: datetime | None = None
    config_key_id: str = ""
    config_public_key: str = ""
    mqtt_state: str = ""  # "connected" | "failing" | "disabled"; "": not reported
    mqtt_error: str = ""


@dataclass(frozen=True)
class DeviceConfig:
    """A device's newest desired version (0 and no cameras before the first save) and its reported state."""

    device_id: str
    version: int
    created_at: datetime | None
    cameras: list[dict[str, Any]]
    reported: Reported
    mqtt: dict[str, Any] | None = None  # the MQTT section (its password sealed), None: not set


def key_id_of(public_key: bytes) -> str:
    """The contract's ConfigKey.key_id: the first 16 hex digits of the SHA-256 of the public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- proto <-> the API's plain form ------------------------------------------------------------------


def _streams(camera: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in (camera.get("record"), camera.get("detect")) if s]


def _to_message(device_id: str, version: int, created_at: datetime, cameras: list[dict[str, Any]],
                mqtt: dict[str, Any] | None = None) -> config_pb2.DesiredConfig:
    """The cameras (and MQTT section) in the API's plain form (proto field names; ciphertext in base64url) as a
    DesiredConfig."""
    message = config_pb2.DesiredConfig(device_id=device_id, version=version)
    message.created_at.FromDatetime(created_at)
    # proto3 JSON takes the proto field names and base64url bytes as they are.
    json_format.ParseDict({"cameras": cameras, **({"mqtt": mqtt} if mqtt is not None else {})}, message,
                          ignore_unknown_fields=False)
    return message


def _mqtt_form(message: config_pb2.DesiredConfig) -> dict[str, Any] | None:
    """The MQTT section in the API's plain form (the password still sealed, in base64url); None: not set."""
    if not message.HasField("mqtt"):
        return None
    plain = json_format.MessageToDict(message.mqtt, preserving_proto_field_name=True,
                                      always_print_fields_with_no_presence=True)
    if message.mqtt.HasField("password"):
        plain["password"]["ciphertext"] = b64url(message.mqtt.password.ciphertext)
    return plain


def _cameras_form(message: config_pb2.DesiredConfig) -> list[dict[str, Any]]:
    """The cameras of ``message`` in the API's plain form (every field present, ciphertext in base64url)."""
    cameras = []
    for camera in message.cameras:
        plain = json_format.MessageToDict(camera, preserving_proto_field_name=True,
                                          always_print_fields_with_no_presence=True)
        for stream, source in (("record", camera.record), ("detect", camera.detect)):
            if stream in plain and source.HasField("credentials"):
                plain[stream]["credentials"]["ciphertext"] = b64url(source.credentials.ciphertext)
        cameras.append(plain)
    return cameras


def _parse(row: DeviceConfigVersion) -> config_pb2.DesiredConfig:
    message = config_pb2.DesiredConfig()
    json_format.Parse(row.desired, message)
    return message


def _same_cameras(a: config_pb2.DesiredConfig, b: config_pb2.DesiredConfig) -> bool:
    """Whether the two hold the same settings (cameras and MQTT section), whatever their numbers."""
    def settings(m: config_pb2.DesiredConfig) -> bytes:
        held = config_pb2.DesiredConfig(cameras=m.cameras)
        if m.HasField("mqtt"):
            held.mqtt.CopyFrom(m.mqtt)
        return held.SerializeToString(deterministic=True)
    return settings(a) == settings(b)


# --- reading -------------------------------------------------------------------------------------------


def newest(session: Session, device_id: str) -> DeviceConfigVersion | None:
    return session.scalars(
        select(DeviceConfigVersion).where(DeviceConfigVersion.device_id == device_id)
        .order_by(DeviceConfigVersion.version.desc()).limit(1)
    ).first()


def _reported(row: DeviceConfigReport | None) -> Reported:
    if row is None:
        return Reported()
    return Reported(applied_version=row.applied_version, refused_version=row.refused_version,
                    refused_reason=row.refused_reason, cameras=tuple(json.loads(row.cameras)),
                    reported_at=row.reported_at, config_key_id=row.config_key_id,
                    config_public_key=row.config_public_key, mqtt_state=row.mqtt_state, mqtt_error=row.mqtt_error)


def device_config(session: Session, device: Device) -> DeviceConfig:
    row = newest(session, device.id)
    reported = _reported(session.get(DeviceConfigReport, device.id))
    if row is None:
        return DeviceConfig(device.id, 0, None, [], reported)
    message = _parse(row)
    return DeviceConfig(device.id, row.version, row.created_at, _cameras_form(message), reported, _mqtt_form(message))


def versions_of(session: Session, tenant_id: str, device_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(newest desired version, applied version) per device; 0 where there is none."""
    desired = dict(session.execute(
        select(DeviceConfigVersion.device_id, func.max(DeviceConfigVersion.version))
        .where(DeviceConfigVersion.tenant_id == tenant_id, DeviceConfigVersion.device_id.in_(device_ids))
        .group_by(DeviceConfigVersion.device_id)
    ).all())
    applied = dict(session.execute(
        select(DeviceConfigReport.device_id, DeviceConfigReport.applied_version)
        .where(DeviceConfigReport.tenant_id == tenant_id, DeviceConfigReport.device_id.in_(device_ids))
    ).all())
    return {d: (desired.get(d, 0), applied.get(d, 0)) for d in device_ids}


# --- saving --------------------------------------------------------------------------------------------


def _check_urls(cameras: list[dict[str, Any]]) -> None:
    for camera in cameras:
        for source in _streams(camera):
            if "@" in urlsplit(source["url"]).netloc:
                # The message names the camera only: the URL holds the very secret being refused.
                raise CredentialsInUrl(
                    f"camera {camera['name']}: the stream URL holds a user name or password; send them sealed "
                    "to the device's config key (credentials), never in the URL")


def _check_sealing(cameras: list[dict[str, Any]], reported: DeviceConfigReport | None,
                   mqtt: dict[str, Any] | None = None) -> None:
    key_ids = {s["credentials"]["key_id"] for c in cameras for s in _streams(c) if s.get("credentials")}
    if mqtt is not None and mqtt.get("password"):
        key_ids.add(mqtt["password"]["key_id"])
    if not key_ids:
        return
    if reported is None or not reported.config_key_id:
        raise Conflict("the device has not reported a config key yet; credentials cannot be sealed to it",
                       code="no_config_key")
    if key_ids != {reported.config_key_id}:
        raise Conflict("credentials are sealed to another key than the device's current config key; "
                       "seal them again to config_key", code="stale_config_key")


def _check_plan(session: Session, tenant: Tenant, device_id: str, enabled: int) -> None:
    newest_per_device = (
        select(DeviceConfigVersion.device_id, func.max(DeviceConfigVersion.version).label("version"))
        .join(Device, Device.id == DeviceConfigVersion.device_id)
        .where(DeviceConfigVersion.tenant_id == tenant.id, DeviceConfigVersion.device_id != device_id,
               Device.revoked_at.is_(None))
        .group_by(DeviceConfigVersion.device_id).subquery()
    )
    others = session.scalar(
        select(func.coalesce(func.sum(DeviceConfigVersion.enabled_cameras), 0)).join(
            newest_per_device, (newest_per_device.c.device_id == DeviceConfigVersion.device_id)
            & (newest_per_device.c.version == DeviceConfigVersion.version))
    ) or 0
    limit = plan_for(tenant.plan).max_cameras
    if others + enabled > limit:
        raise Conflict(f"the plan allows {limit} enabled cameras in all; the other devices have {others}",
                       code="camera_limit")


def save(session: Session, bus: EventBus, tenant: Tenant, device: Device, base_version: int,
         cameras: list[dict[str, Any]], user_id: str | None, mqtt: dict[str, Any] | None = None) -> tuple[DeviceConfig, bool]:
    """Save ``cameras`` and ``mqtt`` (the API's plain form, validated by its schema; the MQTT password only
    sealed) as the device's next version, and announce it on ``bus`` (heard once the session commits).

    Returns the newest config and whether a version was written: a save identical to the newest version
    writes nothing. Raises 409 ``version_conflict`` when ``base_version`` is not the newest version.
    """
    _check_urls(cameras)
    _one_save_at_a_time(session, tenant)
    held = newest(session, device.id)
    now = utcnow()
    current = held.version if held is not None else 0
    message = _to_message(device.id, current + 1, now, cameras, mqtt)
    if held is not None and _same_cameras(_parse(held), message):
        return device_config(session, device), False
    if base_version != current:
        raise Conflict(f"the configuration was changed meanwhile (newest version {current}, edited from "
                       f"{base_version}); reload it and apply your change again", code="version_conflict")
    reported = session.get(DeviceConfigReport, device.id)
    _check_sealing(cameras, reported, mqtt)
    enabled = sum(1 for c in cameras if c.get("enabled", True))
    _check_plan(session, tenant, device.id, enabled)
    _write(session, bus, tenant, device, message, enabled, user_id, now)
    return device_config(session, device), True


def _one_save_at_a_time(session: Session, tenant: Tenant) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Saves of one tenant one at a time: versions cannot collide and seq follows commit order.
        session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def _write(session: Session, bus: EventBus, tenant: Tenant, device: Device, message: config_pb2.DesiredConfig,
           enabled: int, user_id: str | None, now: datetime) -> None:
    """Add ``message`` as the device's next version (its number already set), keep the last versions, name
    the reported cameras and announce it once the session commits."""
    seq = (session.scalar(select(func.max(DeviceConfigVersion.seq)).where(DeviceConfigVersion.tenant_id == tenant.id)) or 0) + 1
    row = DeviceConfigVersion(
        device_id=device.id, version=message.version, tenant_id=tenant.id, seq=seq,
        desired=json_format.MessageToJson(message, indent=None), enabled_cameras=enabled, created_at=now,
        created_by=user_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # SQLite: another save of this tenant got in between our read and write
        raise Conflict("the configuration was changed meanwhile; reload it and apply your change again",
                       code="version_conflict") from None
    session.execute(delete(DeviceConfigVersion).where(
        DeviceConfigVersion.device_id == device.id, DeviceConfigVersion.version <= row.version - VERSIONS_KEPT))
    _name_reported_cameras(session, tenant.id, device.id, message)
    bus.announce_config(session, tenant.id)
    log.info("device_config_saved", tenant=tenant.id, device=device.id, version=row.version,
             cameras=len(message.cameras), enabled=enabled)


def rename(session: Session, bus: EventBus, tenant: Tenant, device: Device, camera: str, title: str,
           user_id: str | None) -> bool:
    """Give ``camera`` the name ``title`` in the device's newest desired config too, as its next version, so a
    later save of the camera form keeps the new name instead of the one it was added under. Returns whether a
    version was written (not when the camera is not in the config, or already has that name)."""
    _one_save_at_a_time(session, tenant)
    held = newest(session, device.id)
    if held is None:
        return False
    message = _parse(held)
    renamed = [c for c in message.cameras if c.name == camera and c.display_name != title]
    if not renamed:
        return False
    renamed[0].display_name = title
    # Only the name changes: the sealed credentials and the plan's count were checked when this was saved.
    now = utcnow()
    message.version = held.version + 1
    message.created_at.FromDatetime(now)
    _write(session, bus, tenant, device, message, held.enabled_cameras, user_id, now)
    return True


def _name_reported_cameras(session: Session, tenant_id: str, device_id: str, message: config_pb2.DesiredConfig) -> None:
    """The names people gave the cameras in this config, on the cameras the device has already reported
    (events, filters, notifications use those): a name changed in the camera form shows everywhere."""
    titles = {c.name: c.display_name.strip() or c.name for c in message.cameras}
    for camera in session.scalars(select(Camera).where(
            Camera.tenant_id == tenant_id, Camera.device_id == device_id, Camera.name.in_(titles))):
        camera.display_name = titles[camera.name]


def configured_titles(session: Session, device_ids: set[str]) -> dict[tuple[str, str], str]:
    """``(device, camera) -> name for people`` from each device's newest config: what a camera reported for
    the first time is called (it was added in the UI under that name)."""
    titles: dict[tuple[str, str], str] = {}
    for device_id in device_ids:
        row = newest(session, device_id)
        if row is not None:
            for camera in _parse(row).cameras:
                titles[(device_id, camera.name)] = camera.display_name.strip() or camera.name
    return titles


# --- relays --------------------------------------------------------------------------------------------


def for_relay(session: Session, tenant_id: str, after: int, limit: int = RELAY_PAGE) -> tuple[list[str], int]:
    """The newest DesiredConfig (proto3 JSON text) of each of the tenant's devices (not revoked) saved after
    the cursor ``after``, oldest first, at most ``limit``; and the cursor to pass next time."""
    newest_per_device = (
        select(DeviceConfigVersion.device_id, func.max(DeviceConfigVersion.version).label("version"))
        .where(DeviceConfigVersion.tenant_id == tenant_id).group_by(DeviceConfigVersion.device_id).subquery()
    )
    rows = session.execute(
        select(DeviceConfigVersion.desired, DeviceConfigVersion.seq)
        .join(newest_per_device, (newest_per_device.c.device_id == DeviceConfigVersion.device_id)
              & (newest_per_device.c.version == DeviceConfigVersion.version))
        .join(Device, Device.id == DeviceConfigVersion.device_id)
        .where(DeviceConfigVersion.tenant_id == tenant_id, DeviceConfigVersion.seq > after,
               Device.revoked_at.is_(None))
        .order_by(DeviceConfigVersion.seq).limit(limit)
    ).all()
    return [desired for desired, _ in rows], (rows[-1][1] if rows else after)


# --- reports -------------------------------------------------------------------------------------------


def _clean(text: str, limit: int) -> str:
    # Free text from the device: no control characters, and a URL's credentials never stored even if an
    # edge put one in an error message.
    return redact_text(_CONTROL.sub(" ", text))[:limit]


def record_report(session: Session, device: Device, status: ingest_pb2.ConfigStatus, now: datetime) -> bool:
    """Store what ``device`` reported, unless it is older than what is held (a lower applied version, or
    the same version reported earlier). The caller checked the device is its relay's tenant's."""
    at = status.at.ToDatetime(tzinfo=UTC) if status.HasField("at") else now
    row = session.get(DeviceConfigReport, device.id)
    if row is not None and (status.applied_version < row.applied_version
                            or (status.applied_version == row.applied_version and at < row.reported_at)):
        return False
    if row is None:
        row = DeviceConfigReport(device_id=device.id, tenant_id=device.tenant_id)
        session.add(row)
    row.applied_version = status.applied_version
    row.refused_version = status.refused_version
    row.refused_reason = _clean(status.refused_reason, 500)
    row.cameras = json.dumps([{"camera": c.camera, "state": c.state, "error": _clean(c.error, 500)} for c in status.cameras])
    row.reported_at = at
    if status.config_key_id:
        row.config_key_id = status.config_key_id
        row.config_public_key = status.config_public_key
    if status.HasField("mqtt"):  # else the device has not said (its detector not started yet): kept
        row.mqtt_state, row.mqtt_error = status.mqtt.state, _clean(status.mqtt.error, 500)
    return True
