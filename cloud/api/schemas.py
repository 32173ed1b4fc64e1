"""The API's request and response shapes (pydantic: ``…Create`` in, ``…Update`` patch, ``…Public`` out).

Tables live in :mod:`cloud.tables`; these shapes name only what crosses the HTTP boundary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from cloud.api.params import Text

Role = Literal["admin", "viewer"]


class Shape(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class SignupCreate(Shape):
    email: EmailStr
    password: Text = Field(min_length=12, max_length=256)
    tenant_name: Text = Field(min_length=1, max_length=100)


class LoginCreate(Shape):
    # Not EmailStr: an address that could never have signed up simply fails to sign in (401), as any
    # unknown one does; refusing it with 422 would tell apart what the schema cannot describe.
    email: Text = Field(min_length=1, max_length=320)
    password: Text = Field(min_length=1, max_length=256)


class PasswordUpdate(Shape):
    current_password: Text = Field(min_length=1, max_length=256)
    new_password: Text = Field(min_length=12, max_length=256)


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
    password: Text = Field(min_length=12, max_length=256)
    role: Role = "viewer"


class MemberUpdate(Shape):
    role: Role


class TenantPublic(Shape):
    id: str
    name: str
    plan: str
    relay_id: str | None = Field(
        None, description="The tenant's relay; null until the tenant adds its first device (POST /bootstrap-tokens "
        "takes one from the pool).",
    )
    relay_url: str | None = Field(None, description="Where the browser fetches media (clip tokens name it too).")
    relay_enrolment_endpoint: str | None = Field(
        None, description="host:port new devices enrol at (guardian-edge enrol --relay): the relay's registered "
        "enrolment endpoint, else the host and port of relay_url.",
    )


class TenantUpdate(Shape):
    name: Text = Field(min_length=1, max_length=100)


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
    name: Text = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    endpoint_url: Text = Field(min_length=8, max_length=500, pattern=r"^https?://")
    public_key: Text = Field(min_length=43, max_length=44, description="The relay's Ed25519 public key (base64url).")
    enrolment_endpoint: Text | None = Field(
        None, max_length=300, pattern=HOST_PORT,
        description="host:port of the relay's enrolment endpoint if edges reach it elsewhere than endpoint_url.",
    )


class RelayUpdate(Shape):
    endpoint_url: Text | None = Field(None, min_length=8, max_length=500, pattern=r"^https?://")
    public_key: Text | None = Field(None, min_length=43, max_length=44)
    enabled: bool | None = None
    enrolment_endpoint: Text | None = Field(None, max_length=300, pattern=HOST_PORT + "|^$",
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
    name: Text = Field(min_length=1, max_length=100)


class CameraPublic(Shape):
    id: str
    device_id: str
    name: str
    display_name: str
    state: str
    last_frame_at: datetime | None


class CameraUpdate(Shape):
    display_name: Text = Field(min_length=1, max_length=100)


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


ClipScope = Literal["clip", "snapshot", "thumbnail"]


def _all_clip_scopes() -> list[ClipScope]:
    return ["clip", "snapshot", "thumbnail"]


class ClipTokenCreate(Shape):
    scopes: list[ClipScope] = Field(default_factory=_all_clip_scopes, min_length=1)


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
    label: Text = Field("", max_length=100)


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
    nonce: Text = Field(min_length=8, max_length=64)


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
