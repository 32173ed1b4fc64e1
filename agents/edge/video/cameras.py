"""The camera table: what is configured (edge.toml's cameras, or the desired config's) and each camera's live status.

The recorder writes status rows every few seconds so the other edge services (detector, uplink, the
local API) can read them from the database without talking to the recorder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config.store import applied_version
from agents.edge.config import CameraSettings
from agents.edge.db.tables import Camera
from agents.edge.video.status import CameraStatus


def sync_cameras(sessions: sessionmaker[WriterSession], configured: Iterable[CameraSettings]) -> list[Camera]:
    """Make the table match edge.toml: add and update configured cameras, disable the others (their
    footage stays until retention removes it). Once a desired config from the cloud is applied, its
    cameras are the configured ones and edge.toml's are left alone (see :mod:`agents.edge.camera_config`)."""
    configured = list(configured)
    names = {c.name for c in configured}
    with sessions.begin() as session:
        if not applied_version(session):
            existing = {c.name: c for c in session.scalars(select(Camera))}
            for cam in configured:
                row = existing.get(cam.name) or Camera(name=cam.name)
                row.record_url = cam.record_url
                row.detect_url = cam.detect_url
                row.enabled = cam.enabled
                session.add(row)
            for name, row in existing.items():
                if name not in names:
                    row.enabled = False
                    row.state = "stopped"
    return list_cameras(sessions)


def list_cameras(sessions: sessionmaker[WriterSession]) -> list[Camera]:
    with sessions() as session:
        return list(session.scalars(select(Camera).order_by(Camera.name)))


def save_statuses(sessions: sessionmaker[WriterSession], statuses: Iterable[CameraStatus]) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for status in statuses:
            row = session.get(Camera, status.camera)
            if row is None:
                continue
            row.state = str(status.state)
            row.reason = status.reason
            row.failure = str(status.failure) if status.failure else None
            row.since = status.since
            row.last_frame_at = status.last_frame_at
            row.fps = status.fps
            row.bitrate_bps = status.bitrate_bps
            row.reconnects = status.reconnects
            row.codec = status.codec
            row.width = status.width
            row.height = status.height
            row.updated_at = now
