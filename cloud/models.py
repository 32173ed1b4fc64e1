"""Tables (SQLAlchemy 2.0) and the API's shapes (pydantic: ``…Create`` in, ``…Update`` patch, ``…Public`` out).

Every tenant-owned table carries ``tenant_id``; queries on them go through :class:`cloud.api.deps.Tenant`.
Identifiers are UUID text so both backends and the relays agree on them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.core.db import Base, UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


Role = Literal["admin", "viewer"]

# --- tables -----------------------------------------------------------------------------------------


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
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        # The timeline: newest first per tenant, optionally per camera or label.
        Index("ix_events_tenant_start", "tenant_id", "start_at", "id"),
        Index("ix_events_tenant_camera_start", "tenant_id", "camera", "start_at", "id"),
        Index("ix_events_tenant_label_start", "tenant_id", "label", "start_at", "id"),
    )


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


# --- API shapes -------------------------------------------------------------------------------------


class Shape(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class SignupCreate(Shape):
    email: EmailStr
    password: str = Field(min_length=12, max_length=256)
    tenant_name: str = Field(min_length=1, max_length=100)


class LoginCreate(Shape):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class PasswordUpdate(Shape):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=12, max_length=256)


class TokenPublic(Shape):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserPublic(Shape):
    id: str
    email: str
    role: str
    tenant_id: str | None
    is_operator: bool


class MemberCreate(Shape):
    email: EmailStr
    password: str = Field(min_length=12, max_length=256)
    role: Role = "viewer"


class MemberUpdate(Shape):
    role: Role


class TenantPublic(Shape):
    id: str
    name: str
    plan: str
    relay_id: str | None = None
    relay_url: str | None = Field(None, description="Where the browser fetches media (clip tokens name it too).")
    relay_enrolment_endpoint: str | None = Field(
        None, description="host:port new devices enrol at (guardian-edge enrol --relay): the relay's registered "
        "enrolment endpoint, else the host and port of relay_url.",
    )


class TenantUpdate(Shape):
    name: str = Field(min_length=1, max_length=100)


class PlanPublic(Shape):
    name: str
    max_cameras: int
    max_archive_bytes: int
    retention_days: int
    cameras_used: int
    archive_bytes_used: int


# host:port (a DNS name, IPv4 or [IPv6]); what `guardian-edge enrol --relay` takes.
HOST_PORT = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}$"


class RelayCreate(Shape):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    endpoint_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")
    public_key: str = Field(min_length=43, max_length=44, description="The relay's Ed25519 public key (base64url).")
    enrolment_endpoint: str | None = Field(
        None, max_length=300, pattern=HOST_PORT,
        description="host:port of the relay's enrolment endpoint if edges reach it elsewhere than endpoint_url.",
    )


class RelayUpdate(Shape):
    endpoint_url: str | None = Field(None, min_length=8, max_length=500, pattern=r"^https?://")
    public_key: str | None = Field(None, min_length=43, max_length=44)
    enabled: bool | None = None
    enrolment_endpoint: str | None = Field(None, max_length=300, pattern=HOST_PORT + "|^$",
                                           description="host:port; empty string: same as endpoint_url.")


class RelayPublic(Shape):
    id: str
    name: str
    endpoint_url: str
    enrolment_endpoint: str | None
    public_key: str
    tenant_id: str | None
    enabled: bool
    created_at: datetime
    last_seen_at: datetime | None


class DevicePublic(Shape):
    id: str
    name: str
    status: str
    reason: str
    agent_version: str
    last_seen_at: datetime | None


class DeviceUpdate(Shape):
    name: str = Field(min_length=1, max_length=100)


class CameraPublic(Shape):
    id: str
    device_id: str
    name: str
    display_name: str
    state: str
    last_frame_at: datetime | None


class CameraUpdate(Shape):
    display_name: str = Field(min_length=1, max_length=100)


class EventPublic(Shape):
    id: str
    device_id: str
    camera: str
    label: str
    start_at: datetime
    end_at: datetime | None
    confidence: Literal["unspecified", "low", "medium", "high"]
    has_clip: bool


class EventPage(Shape):
    items: list[EventPublic]
    next_cursor: str | None


class EventCount(Shape):
    bucket: datetime
    label: str | None = Field(None, description="With group_by=label only.")
    count: int


class ClipTokenCreate(Shape):
    scopes: list[Literal["clip", "snapshot", "thumbnail"]] = Field(
        default_factory=lambda: ["clip", "snapshot", "thumbnail"], min_length=1
    )


class ArchivePublic(Shape):
    """An archived clip: ciphertext in the store under ``cid`` (CIDv1 raw sha2-256 of its bytes)."""

    cid: str
    event_id: str
    device_id: str
    size: int
    stored_at: datetime


class ArchiveDownload(Shape):
    url: str = Field(description="Presigned GET of the ciphertext; expires at expires_at.")
    expires_at: datetime
    cid: str
    size: int
    event_id: str


class ArchiveQuota(Shape):
    max_archive_bytes: int
    archive_bytes_used: int


class ClipTokenPublic(Shape):
    token: str
    relay_url: str
    expires_at: datetime
    scopes: list[str]


class BootstrapTokenCreate(Shape):
    label: str = Field("", max_length=100)


class BootstrapTokenPublic(Shape):
    id: str
    label: str
    relay_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class BootstrapTokenIssued(BootstrapTokenPublic):
    token: str = Field(description="Shown once; give it to the new device. Not retrievable later.")


class BootstrapConsume(Shape):
    nonce: str = Field(min_length=8, max_length=64)


class Revocation(Shape):
    """Something a relay must refuse: a spent bootstrap token (until it expires anyway) or a device."""

    kind: Literal["bootstrap_token", "device"] = "bootstrap_token"
    nonce: str | None = Field(None, description="bootstrap_token: the token's nonce (jti).")
    expires_at: datetime | None = Field(None, description="bootstrap_token: when it stops being valid anyway.")
    device_id: str | None = Field(None, description="device: the revoked device; it stays revoked.")
    revoked_at: datetime | None = Field(None, description="device: when it was revoked (by a tenant admin, or at its relay).")


class OidcProviderPublic(Shape):
    name: str
    login_url: str = Field(description="Send the browser here (a top-level navigation) to start the login.")


class AuthProviders(Shape):
    password: bool = Field(True, description="Local accounts (e-mail and password) can sign in.")
    signup: bool = Field(description="Self-service sign-up is open.")
    oidc: OidcProviderPublic | None = Field(description="The OpenID Connect provider, when one is configured.")


class PublicKeyPublic(Shape):
    kid: str
    alg: Literal["Ed25519"] = "Ed25519"
    public_key: str
    jwk: dict[str, str]


class KeysPublic(Shape):
    keys: list[PublicKeyPublic]


class ErrorBody(Shape):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


class ErrorResponse(Shape):
    error: ErrorBody
