"""Every table of the edge database, declared in one place.

The modules that work on a table (``video.cameras``, ``video.segments``, ``events.store``, ``outbox``,
``archive.queue``) import its row class from here. A change to a table needs a migration in
``agents/edge/db/migrations/versions/`` (a test compares the migrated schema with these classes).
"""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class EdgeBase(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


class Camera(EdgeBase):
    """What is configured (edge.toml's cameras, or the applied desired config's once one exists) and each
    camera's live status (the recorder's)."""

    __tablename__ = "cameras"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # edge.toml's URLs may hold credentials: they are read by the services on this box only, never logged
    # or sent. A desired config's URLs never do: its credentials stay sealed in the *_credentials columns.
    record_url: Mapped[str] = mapped_column(String(1024))
    detect_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # "file" (edge.toml) or "desired" (the cloud's desired config, see agents.edge.camera_config).
    source: Mapped[str] = mapped_column(String(16), default="file", server_default="file")
    display_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Sealed "username:password" (SealedSecret.ciphertext): opened only in memory, when a stream is opened.
    record_credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    detect_credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The camera's DetectionConfig (proto3 JSON); "" for the edge's defaults.
    detection_json: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What the last applied desired config did to it: "applied", "failed" (config_error says why), "removed".
    config_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    config_error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    config_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
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


class ConfigVersion(EdgeBase):
    """A desired config version the edge received: applied (the newest applied is current, the one before
    it is kept as the last good one) or refused as a whole. See :mod:`agents.edge.camera_config.store`."""

    __tablename__ = "config_versions"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))  # "applied" | "refused"
    reason: Mapped[str] = mapped_column(String(256), default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the DesiredConfig as received (credentials sealed)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_config_versions_status_version", "status", "version"),)


class MqttStatusRow(EdgeBase):
    """The detector's connection to the site's MQTT broker, one row (``id`` 1), written when it changes
    (``agents/edge/mqtt/link.py``) and reported up by the uplink with the config (``camera_config.store``)."""

    __tablename__ = "mqtt_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))  # "connected" | "failing" | "disabled"
    error: Mapped[str] = mapped_column(String(500), default="")  # for people; never a secret
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Segment(EdgeBase):
    """One fixed-length piece of continuous recording: packets copied from the camera, never re-encoded.

    Times are UTC epoch seconds; ``path`` is relative to the store's root when inside it."""

    __tablename__ = "video_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(512), unique=True)
    start_ts: Mapped[float] = mapped_column(Float)  # wall time (UTC epoch s) of the first frame
    end_ts: Mapped[float] = mapped_column(Float)  # wall time just after the last frame
    size_bytes: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(32))  # e.g. "h264 High 768x576"
    frames: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_video_segments_camera_start", "camera", "start_ts"), Index("ix_video_segments_start", "start_ts"))

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ts, UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self.end_ts, UTC)

    @property
    def duration_s(self) -> float:
        return self.end_ts - self.start_ts


class Clip(EdgeBase):
    """An assembled clip (event footage) that retention manages as the ``event`` class."""

    __tablename__ = "video_clips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(512), unique=True)
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(32))
    frames: Mapped[int] = mapped_column(Integer, default=0)
    created_ts: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_video_clips_created", "created_ts"),)


class EventRow(EdgeBase):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID4, the id end to end
    camera: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(80))  # name@version of the detector that saw it
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    max_score: Mapped[float] = mapped_column(Float)
    mean_score: Mapped[float] = mapped_column(Float)
    hits: Mapped[int] = mapped_column(Integer)
    snapshot_ref: Mapped[str] = mapped_column(String(200), default="")
    thumbnail_ref: Mapped[str] = mapped_column(String(200), default="")
    clip_ref: Mapped[str] = mapped_column(String(200), default="")
    clip_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    clip_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    clip_duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    # The box track, JSON [[unix_time, x0, y0, x1, y1, score], ...]; kept on the edge (and its relay).
    track_json: Mapped[str] = mapped_column(Text, default="[]")
    # The camera's zones its object stood in (JSON list of names, first entered first); edge only (the
    # uplink Event has no field for them).
    zones_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # "alert" (a person or vehicle in one of the camera's alert zones) or "detection"; only ever rises.
    severity: Mapped[str] = mapped_column(String(10), default="detection", server_default="detection")
    # The review item (a camera's overlapping activity, events/review_items.py) it was grouped into when
    # opened; "" for events from before items.
    review_item: Mapped[str] = mapped_column(String(36), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_events_camera_start", "camera", "start_at"),
        Index("ix_events_label_start", "label", "start_at"),
        Index("ix_events_start", "start_at"),
    )

    @property
    def track(self) -> list[list[float]]:
        return json.loads(self.track_json)


class OutboxKind(enum.IntEnum):
    # Lower sends first: events before telemetry before heartbeats.
    EVENT = 0
    TELEMETRY = 1
    HEARTBEAT = 2


# The partial index's condition, as a literal: an upsert's conflict target must repeat it verbatim.
OUTBOX_EVENTS_ONLY = text(f"kind = {int(OutboxKind.EVENT)}")


class OutboxItem(EdgeBase):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[int] = mapped_column(Integer)
    # The idempotency key of what is sent (the event UUID); repeated sends of one event update one row.
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # a serialised guardian.edge.v1 message
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped when the payload is replaced; an ack only deletes the generation that was sent.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # AUTOINCREMENT: ids are never reused after deletes, so the sender's per-kind cursor is sound.
    __table_args__ = (
        Index("ix_outbox_kind_id", "kind", "id"),
        Index("ux_outbox_event_key", "key", unique=True, sqlite_where=OUTBOX_EVENTS_ONLY),
        {"sqlite_autoincrement": True},
    )


class ArchiveItem(EdgeBase):
    """One event to archive; ``status`` as described in :mod:`agents.edge.archive.queue`."""

    __tablename__ = "archive_queue"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    upload_id: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ciphertext: Mapped[str] = mapped_column(String(300), default="")  # path of the encrypted copy
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # ciphertext bytes
    sha256: Mapped[str] = mapped_column(String(64), default="")  # of the ciphertext
    cid: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_archive_queue_status_next", "status", "next_attempt_at"),)
