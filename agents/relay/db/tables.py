"""Every table of the relay database, declared in one place.

A change to a table needs a migration in ``agents/relay/db/migrations/versions/`` (a test compares the
migrated schema with these classes).
"""

from __future__ import annotations

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
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite itself keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, _dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class RelayBase(DeclarativeBase):
    pass


class Device(RelayBase):
    """One enrolled edge appliance. ``tunnel_address`` is its identity on the uplink."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(256), default="")
    # WireGuard public key (wireguard mode) or the SHA-256 of the client certificate's key (tls mode).
    public_key: Mapped[str] = mapped_column(String(128), unique=True)
    tunnel_address: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # healthy | degraded | offline | revoked
    status_reason: Mapped[str] = mapped_column(String(512), default="")
    last_telemetry: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # edge.v1.Telemetry
    health_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    health_reported_status: Mapped[str] = mapped_column(String(16), default="")


class UsedToken(RelayBase):
    """A bootstrap token nonce that was spent; kept until the token would have expired anyway."""

    __tablename__ = "used_tokens"

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device_id: Mapped[str] = mapped_column(String(64))
    reported: Mapped[bool] = mapped_column(Boolean, default=False)  # told the cloud it was consumed


class RevokedToken(RelayBase):
    """A bootstrap token the cloud listed as revoked (``GET /api/v1/relay/revocations``): enrolment with it
    is refused. Kept until the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CachedEvent(RelayBase):
    """An event with its full metadata; only a summary of it ever goes to the cloud."""

    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    mean_score: Mapped[float] = mapped_column(Float, default=0.0)
    track_json: Mapped[str] = mapped_column(Text, default="[]")  # boxes + scores over time
    snapshot_ref: Mapped[str] = mapped_column(String(256), default="")
    clip_ref: Mapped[str] = mapped_column(String(256), default="")
    clip_duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the Event as received
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # NULL: the cloud has not acknowledged the current version yet.
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_events_pending", "forwarded_at", "received_at"),
        Index("ix_events_expires", "expires_at"),
        Index("ix_events_device_start", "device_id", "start"),
    )


class TelemetrySample(RelayBase):
    __tablename__ = "telemetry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_telemetry_device_received", "device_id", "received_at"),)


class ArchiveObject(RelayBase):
    """An object this relay put in the store (ciphertext, keyed by CID)."""

    __tablename__ = "archive_objects"

    cid: Mapped[str] = mapped_column(String(120), primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DesiredConfigRow(RelayBase):
    """The newest desired configuration (``guardian.edge.v1.DesiredConfig``) the cloud holds for one device
    enrolled here, kept so edges get it over ``EdgeConfig.Watch`` even while the cloud is unreachable."""

    __tablename__ = "desired_configs"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the serialized DesiredConfig, as the cloud sent it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConfigFeed(RelayBase):
    """Where the pull of ``GET /api/v1/relay/configs`` stands (one row): the cloud's opaque cursor, and when
    the configs it covers were stored (a device enrolled after that may have been skipped: pull all again)."""

    __tablename__ = "config_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConfigReportRow(RelayBase):
    """What a device last reported applying (``EdgeConfig.Report``), as the ``ConfigStatus`` the cloud gets.

    ``seq`` grows with every report and ``forwarded_seq`` is the one the cloud acknowledged: the report is
    pending while they differ, so a report arriving while a batch is in flight is sent again, not lost."""

    __tablename__ = "config_reports"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_version: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[bytes] = mapped_column(LargeBinary)  # the serialized cloud.v1.ConfigStatus
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seq: Mapped[int] = mapped_column(Integer, default=1)
    forwarded_seq: Mapped[int] = mapped_column(Integer, default=0)
