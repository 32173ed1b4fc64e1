"""The cloud's tables (SQLAlchemy 2.0); schema changes only through Alembic (``cloud/migrations``).

Every tenant-owned table carries ``tenant_id``; queries on them go through :class:`cloud.api.deps.TenantScope`.
Identifiers are UUID text so both backends and the relays agree on them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.core.db import Base, UTCDateTime, utcnow

# What Alembic's env and the schema check compare against: every table below.
metadata = Base.metadata


def new_id() -> str:
    return str(uuid.uuid4())


class Relay(Base):
    """A pre-provisioned tenant relay VM; in the pool while ``tenant_id`` is NULL."""

    __tablename__ = "relays"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    endpoint_url: Mapped[str] = mapped_column(String(500))
    # host:port of the relay's HTTPS enrolment endpoint when edges reach it elsewhere than endpoint_url.
    enrolment_endpoint: Mapped[str | None] = mapped_column(String(300), nullable=True)
    public_key: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The relay's software version, from the User-Agent of its signed calls ("" until one names it).
    agent_version: Mapped[str] = mapped_column(String(50), default="", server_default="")


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(20), default="free")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    oidc_issuer: Mapped[str | None] = mapped_column(String(500), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A platform operator manages relays; a tenant member has tenant_id and role.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    tenant_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10), default="viewer")
    # Bumped on password change: every access and refresh token issued before stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefreshSession(Base):
    """A refresh token (stored hashed), rotated on each use; reuse of a rotated one ends the family."""

    __tablename__ = "refresh_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginFailure(Base):
    """Failed logins by hashed key (account or client address), shared by every API replica."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


class OidcLogin(Base):
    """A pending OIDC authorization (state → PKCE verifier and nonce), single use, short-lived."""

    __tablename__ = "oidc_logins"
    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayNonce(Base):
    """Nonces of signed relay requests seen within the replay window."""

    __tablename__ = "relay_nonces"
    relay_id: Mapped[str] = mapped_column(String(36), ForeignKey("relays.id", ondelete="CASCADE"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Device(Base):
    """An edge appliance, known from its relay's health reports."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    relay_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("relays.id", ondelete="SET NULL"), nullable=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    reason: Mapped[str] = mapped_column(String(500), default="")
    agent_version: Mapped[str] = mapped_column(String(50), default="")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by a tenant admin (DELETE /devices/{id}): hidden from the tenant, listed to its relay at
    # GET /relay/revocations, and nothing it reports from then on is stored.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("tenant_id", "device_id", "name", name="uq_cameras_device_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(20), default="unknown")
    last_frame_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Health from the device's telemetry (None until reported): frames and bits per second the recorder
    # receives, and the camera's last error (text for people, never a URL or a credential).
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    bitrate_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """An event summary from an edge (no media: the contract cannot carry any)."""

    __tablename__ = "events"
    # Event ids are unique per tenant: one tenant's relay can never collide with another's events.
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    confidence: Mapped[int] = mapped_column(SmallInteger, default=0)
    has_clip: Mapped[bool] = mapped_column(Boolean, default=False)
    # The names of the camera's zones the event touched, first entered first: a JSON list of names
    # ([a-z0-9][a-z0-9_-]{0,31}, so the ``zone=`` filter can look for '"name"' in it), never geometry.
    zones_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # "alert" (a person or vehicle in one of the camera's alert zones) or "detection" (the rest), decided
    # on the edge; rows from before severity existed are detections.
    severity: Mapped[str] = mapped_column(String(10), default="detection", server_default="detection")
    # The review item the edge grouped it into (a camera's overlapping activity, a UUID); "" when the edge
    # sent none (an older edge): the event is then an item of its own (services/review_items.py).
    review_item: Mapped[str] = mapped_column(String(64), default="", server_default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        # The timeline: newest first per tenant, optionally per camera or label.
        Index("ix_events_tenant_start", "tenant_id", "start_at", "id"),
        Index("ix_events_tenant_camera_start", "tenant_id", "camera", "start_at", "id"),
        Index("ix_events_tenant_label_start", "tenant_id", "label", "start_at", "id"),
        # The live streams' replay on reconnect: what a tenant received (new or updated) since a cursor.
        Index("ix_events_tenant_received", "tenant_id", "received_at"),
        # An item's events (its page of items is grouped by it, marking an item reviewed reaches them).
        Index("ix_events_tenant_item", "tenant_id", "review_item"),
    )


class EventReview(Base):
    """A member has reviewed an event: each member keeps their own state (no row: unreviewed). Goes with
    its event (retention) and with its member."""

    __tablename__ = "event_reviews"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "event_id"], ["events.tenant_id", "events.id"], ondelete="CASCADE"),
    )
    # The key leads with the member: their unread counts and filters look up (user, tenant, event).
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveRecord(Base):
    __tablename__ = "archive_records"
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    cid: Mapped[str] = mapped_column(String(120), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BootstrapToken(Base):
    """A device bootstrap token: only its nonce is kept; the token text is shown once."""

    __tablename__ = "bootstrap_tokens"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the token's nonce (jti)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    relay_id: Mapped[str] = mapped_column(String(36), ForeignKey("relays.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeviceConfigVersion(Base):
    """One saved version of a device's desired configuration (issue #17); the newest few are kept.

    ``desired`` is the ``guardian.edge.v1.DesiredConfig`` in the proto3 JSON mapping, exactly what relays
    get from ``GET /api/v1/relay/configs``; camera credentials in it are sealed to the edge's key.
    ``seq`` numbers the tenant's saves in commit order (saves of one tenant are serialised on its row): the
    relays' cursor.
    """

    __tablename__ = "device_config_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "seq", name="uq_device_config_versions_tenant_seq"),)
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    desired: Mapped[str] = mapped_column(Text)
    # Enabled cameras in this version: what the plan's camera limit counts.
    enabled_cameras: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class DeviceConfigReport(Base):
    """What a device last reported about its configuration (``ConfigStatus`` through its relay)."""

    __tablename__ = "device_config_reports"
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    applied_version: Mapped[int] = mapped_column(BigInteger, default=0)
    refused_version: Mapped[int] = mapped_column(BigInteger, default=0)
    refused_reason: Mapped[str] = mapped_column(String(500), default="")
    # [{"camera", "state", "error"}, …] as JSON text.
    cameras: Mapped[str] = mapped_column(Text, default="[]")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The edge's X25519 key browsers seal camera credentials to (public by nature).
    config_key_id: Mapped[str] = mapped_column(String(16), default="")
    config_public_key: Mapped[str] = mapped_column(String(64), default="")
    # Its connection to the site's MQTT broker: "connected" | "failing" | "disabled"; "": not reported.
    mqtt_state: Mapped[str] = mapped_column(String(16), default="", server_default="")
    mqtt_error: Mapped[str] = mapped_column(String(500), default="", server_default="")  # for people


class PushSubscription(Base):
    """A member's browser subscribed to Web Push (RFC 8030): where to send, and the keys to encrypt to (RFC 8291).

    The endpoint is a capability URL at the browser's push service; it is sent only to its own member.
    """

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "endpoint", name="uq_push_subscriptions_user_endpoint"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(100))  # the browser's P-256 public key, base64url
    auth: Mapped[str] = mapped_column(String(40))  # the 16-byte authentication secret, base64url
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationRules(Base):
    """What a member wants pushed: one set per member; an empty list means any (camera, label, zone)."""

    __tablename__ = "notification_rules"
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cameras_json: Mapped[str] = mapped_column(Text, default="[]")  # camera ids (cameras.id)
    labels_json: Mapped[str] = mapped_column(Text, default="[]")
    zones_json: Mapped[str] = mapped_column(Text, default="[]")
    # Daily quiet hours "HH:MM"–"HH:MM" in ``time_zone`` (may wrap past midnight); both NULL: none.
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # "all" events, or "alert": only those the edge judged alerts (events.severity).
    severity: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushClaim(Base):
    """An event a member has been notified of, for its review item: written once (the first replica to insert
    it sends), so a newer version of the event, a retried batch, another replica hearing the same announcement
    or another event of the same item never notifies again. Goes with its event (retention)."""

    __tablename__ = "push_claims"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "event_id"], ["events.tenant_id", "events.id"], ondelete="CASCADE"),
        # One notification per review item and member (services/notifications.py).
        UniqueConstraint("tenant_id", "item_key", "user_id", name="uq_push_claims_tenant_item_user"),
    )
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # The event's review item (events.review_item), or the event's own id when it has none (an item of one).
    item_key: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveSession(Base):
    """A live view a member was allowed to start (a ``live`` device token was minted): who, which camera,
    when; never any media. It ends when the viewer says so (``ended_at``) or, at the latest, when its token
    expires (``expires_at``): the edge ends the stream then. The open ones count against the plan's viewers."""

    __tablename__ = "live_sessions"
    __table_args__ = (Index("ix_live_sessions_tenant_started", "tenant_id", "started_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    # The audit outlives the member: the row stays, without its author, when the account is deleted.
    user_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    device_id: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
