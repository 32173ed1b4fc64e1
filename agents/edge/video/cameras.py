"""The camera table: what is configured (synced from the config file) and each camera's live status.

The recorder writes status rows every few seconds so the other edge services (detector, uplink, the
local API) can read them from the database without talking to the recorder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from agents.edge.config import CameraSettings
from agents.edge.db import EdgeBase
from agents.edge.video.status import CameraStatus


class Camera(EdgeBase):
    __tablename__ = "cameras"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # URLs may hold credentials: they are read by the services on this box only, never logged or sent.
    record_url: Mapped[str] = mapped_column(String(1024))
    detect_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="connecting")
    reason: Mapped[str | None] = mapped_column(String(256), nullable=True)
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_frame_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    bitrate_bps: Mapped[float] = mapped_column(Float, default=0.0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def effective_detect_url(self) -> str:
        return self.detect_url or self.record_url


def sync_cameras(sessions: sessionmaker[Session], configured: Iterable[CameraSettings]) -> list[Camera]:
    """Make the table match the config: add and update configured cameras, disable the others (their
    footage stays until retention removes it)."""
    configured = list(configured)
    names = {c.name for c in configured}
    with sessions.begin() as session:
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


def list_cameras(sessions: sessionmaker[Session]) -> list[Camera]:
    with sessions() as session:
        return list(session.scalars(select(Camera).order_by(Camera.name)))


def save_statuses(sessions: sessionmaker[Session], statuses: Iterable[CameraStatus]) -> None:
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
