"""Applying a desired config atomically, and what is applied.

One write transaction (``BEGIN IMMEDIATE``) records the version as applied and rewrites the camera rows:
the config's cameras replace edge.toml's (and an earlier version's) cameras; those no longer in it are
disabled and marked removed (their footage stays until retention removes it). A crash at any point leaves
the previous version or this one, never a mix. Applying the applied version again changes nothing; an
older one is refused without a write. A version refused as a whole is recorded (reported as refused) and
changes no camera. The two newest applied versions are kept (the current one and the last good one before
it), and the newest refused one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config import mqtt_status
from agents.edge.camera_config.key import ConfigKey
from agents.edge.camera_config.validation import CameraPlan, check
from agents.edge.db.tables import Camera, ConfigVersion
from guardian.contracts.edge.v1 import config_pb2

APPLIED, REFUSED = "applied", "refused"
KEEP_APPLIED = 2


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the applied version again
    STALE = "stale"  # older than the applied version: refused, nothing written
    REFUSED = "refused"  # invalid as a whole: recorded, no camera changed


@dataclass(frozen=True)
class ApplyResult:
    outcome: Outcome
    version: int
    applied_version: int  # after this apply
    reason: str = ""
    failed: tuple[str, ...] = ()  # cameras marked failed


def applied_version(session: Session) -> int:
    """The applied desired version; 0 while only edge.toml's cameras are configured."""
    return session.scalar(select(func.max(ConfigVersion.version)).where(ConfigVersion.status == APPLIED)) or 0


def camera_retention_days(sessions: sessionmaker[WriterSession]) -> dict[str, float]:
    """Each camera's own days of continuous recording in the applied desired config; cameras at 0 (the
    edge's default) and cameras of edge.toml are left out."""
    with sessions() as session:
        payload = session.scalar(select(ConfigVersion.payload).where(ConfigVersion.status == APPLIED)
                                 .order_by(ConfigVersion.version.desc()).limit(1))
    if payload is None:
        return {}
    desired = config_pb2.DesiredConfig.FromString(payload)
    return {camera.name: camera.retention_days for camera in desired.cameras if camera.retention_days > 0}


def current_version(sessions: sessionmaker[WriterSession]) -> int:
    with sessions() as session:
        return applied_version(session)


def apply(
    sessions: sessionmaker[WriterSession], desired: config_pb2.DesiredConfig, key: ConfigKey | None, device_id: str | None
) -> ApplyResult:
    checked = check(desired, key, device_id)  # opens credentials: outside the write transaction
    version = desired.version
    with sessions.begin() as session:
        current = applied_version(session)
        if version == current:
            return ApplyResult(Outcome.UNCHANGED, version, current)
        if version < current:
            return ApplyResult(Outcome.STALE, version, current, f"older than the applied version {current}")
        if checked.refused is not None:
            if session.get(ConfigVersion, version) is None:
                session.add(ConfigVersion(version=version, status=REFUSED, reason=checked.refused,
                                          payload=desired.SerializeToString()))
                _prune(session)
            return ApplyResult(Outcome.REFUSED, version, current, checked.refused)
        _write_cameras(session, checked.cameras, version)
        # A version refused earlier under this number (a cloud restored from a backup) gives way.
        session.execute(delete(ConfigVersion).where(ConfigVersion.version == version))
        session.add(ConfigVersion(version=version, status=APPLIED, payload=desired.SerializeToString()))
        _prune(session)
    failed = tuple(c.name for c in checked.cameras if c.error is not None)
    return ApplyResult(Outcome.APPLIED, version, version, failed=failed)


def _write_cameras(session: Session, plans: list[CameraPlan], version: int) -> None:
    rows = {c.name: c for c in session.scalars(select(Camera))}
    for plan in plans:
        row = rows.get(plan.name) or Camera(name=plan.name)
        row.source = "desired"
        row.display_name = plan.display_name or None
        row.enabled = plan.enabled
        row.record_url = plan.record_url
        row.detect_url = plan.detect_url
        row.record_credentials = plan.record_credentials
        row.detect_credentials = plan.detect_credentials
        row.detection_json = plan.detection_json
        row.config_version = version
        row.config_state = "failed" if plan.error else "applied"
        row.config_error = plan.error[:256] if plan.error else None
        if plan.error is not None:
            row.state, row.reason, row.failure = "failed", plan.error[:256], "config"
        elif not plan.enabled:
            row.state, row.reason, row.failure = "stopped", "disabled", None
        elif row.failure == "config" or row.state == "stopped":
            row.state, row.reason, row.failure = "connecting", None, None  # the recorder takes it from here
        session.add(row)
    wanted = {p.name for p in plans}
    for name, row in rows.items():
        if name in wanted or row.config_state == "removed":
            continue
        row.enabled = False
        row.config_state, row.config_error, row.config_version = "removed", None, version
        row.state, row.reason = "stopped", "removed from the config"


def _prune(session: Session) -> None:
    applied = session.scalars(
        select(ConfigVersion.version).where(ConfigVersion.status == APPLIED).order_by(ConfigVersion.version.desc())
    ).all()
    refused = session.scalars(
        select(ConfigVersion.version).where(ConfigVersion.status == REFUSED).order_by(ConfigVersion.version.desc())
    ).all()
    old = list(applied[KEEP_APPLIED:]) + list(refused[1:])
    if old:
        session.execute(delete(ConfigVersion).where(ConfigVersion.version.in_(old)))


def report(sessions: sessionmaker[WriterSession], key: ConfigKey) -> config_pb2.ConfigReport:
    """What is applied, for the relay: the version, the newest refused one above it, each camera's state
    (cameras removed by the applied version included), the config key, and the MQTT connection's state. The relay sets device_id."""
    at = Timestamp()
    at.FromDatetime(datetime.now(UTC))
    message = config_pb2.ConfigReport(at=at, config_key=key.as_proto())
    mqtt = mqtt_status.read(sessions)
    if mqtt is not None:
        message.mqtt.CopyFrom(mqtt)
    with sessions() as session:
        applied = applied_version(session)
        message.applied_version = applied
        refused = session.scalars(
            select(ConfigVersion).where(ConfigVersion.status == REFUSED, ConfigVersion.version > applied)
            .order_by(ConfigVersion.version.desc()).limit(1)
        ).first()
        if refused is not None:
            message.refused_version, message.refused_reason = refused.version, refused.reason
        if applied:
            for row in session.scalars(select(Camera).where(Camera.config_version == applied).order_by(Camera.name)):
                message.cameras.add(camera=row.name, state=row.config_state or "", error=row.config_error or "")
    return message
