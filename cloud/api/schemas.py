"""The API's request and response shapes (pydantic: ``…Create`` in, ``…Update`` patch, ``…Public`` out).

Tables live in :mod:`cloud.tables`; these shapes name only what crosses the HTTP boundary.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from cryptography import x509
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cloud.api.params import Text, Timestamp

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
    desired_config_version: int = Field(0, description="The newest configuration version saved; 0: none.")
    applied_config_version: int = Field(0, description="The version the device reports applied; 0: none yet.")


class DeviceUpdate(Shape):
    name: Text = Field(min_length=1, max_length=100)


class CameraPublic(Shape):
    id: str
    device_id: str
    name: str
    display_name: str
    state: str
    last_frame_at: datetime | None
    fps: float | None = Field(None, description="Frames per second the device receives (telemetry); null: not reported.")
    bitrate_bps: float | None = Field(None, description="Bits per second the device receives; null: not reported.")
    reason: str | None = Field(None, description="The camera's last error, for people (never a URL or credential).")


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
    zones: list[str] = Field(description="Names of the camera's zones the event touched, first entered first.")
    severity: Literal["alert", "detection"] = Field(
        "detection", description="alert: a person or vehicle in one of the camera's alert zones; detection: the rest.")
    reviewed: bool | None = Field(None, description="Whether the signed-in member has reviewed it; null in live "
                                  "messages (shared by the tenant's members: keep the state you know).")
    review_item: str | None = Field(None, description="The review item it belongs to (its own id when the edge "
                                    "grouped it into none).")


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


DeviceScope = Literal["picture", "discover", "probe", "live"]
LiveStream = Literal["sub", "main"]
#: A camera's name on its device, as the edge and the relay accept it in a picture path.
DEVICE_CAMERA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class DeviceTokenCreate(Shape):
    # The picture-needs-a-camera rule, in the schema too (clients and schemathesis read it there).
    # The live rules too: `live` goes alone (it opens an audited session) and `stream` only with it.
    model_config = ConfigDict(json_schema_extra={
        "allOf": [
            {"if": {"properties": {"scopes": {"contains": {"enum": ["picture", "live"]}}}, "required": ["scopes"]},
             "then": {"properties": {"camera": {"type": "string"}}, "required": ["camera"]}},
            {"if": {"properties": {"scopes": {"contains": {"const": "live"}}}, "required": ["scopes"]},
             "then": {"properties": {"scopes": {"items": {"const": "live"}}}}},
            {"if": {"properties": {"scopes": {"not": {"contains": {"const": "live"}}}}},
             "then": {"properties": {"stream": {"type": "null"}}}},
        ],
    })

    scopes: list[DeviceScope] = Field(min_length=1, max_length=3, description="`picture` (any member; needs "
                                      "`camera`), `discover` and `probe` (tenant admins), `live` (any member; "
                                      "alone, needs `camera`; opens a live session).")
    camera: str | None = Field(None, pattern=DEVICE_CAMERA_PATTERN, description="The camera, by its name on the "
                               "device; required with `picture` and `live`.")
    stream: LiveStream | None = Field(None, description="`live` only: the camera's `sub` stream (the default) "
                                      "or its `main` stream.")

    @model_validator(mode="after")
    def _picture_names_a_camera(self) -> DeviceTokenCreate:
        if {"picture", "live"} & set(self.scopes) and self.camera is None:
            raise PydanticCustomError("camera_required", "the picture and live scopes need a camera")
        if "live" in self.scopes and set(self.scopes) != {"live"}:
            raise PydanticCustomError("live_alone", "the live scope goes alone")
        if self.stream is not None and "live" not in self.scopes:
            raise PydanticCustomError("stream_without_live", "stream is for the live scope only")
        return self


class DeviceTokenPublic(Shape):
    token: str
    relay_url: str
    scopes: list[str]
    camera: str | None
    expires_at: datetime
    live_session_id: str | None = Field(None, description="`live`: the session this token opened (end it with "
                                        "`POST /api/v1/live-sessions/{live_session_id}/end`).")


class LiveSessionPublic(Shape):
    """A live view in the audit: who, which camera, when. ``ended_at`` is when the viewer ended it, or its
    token's expiry when it ran until then (``None`` while open)."""

    id: str
    user_id: str | None
    user_email: str | None = Field(description="None once the member's account is deleted.")
    device_id: str
    camera: str
    stream: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None


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


class EdgeImageChecksum(Shape):
    """The personalised image of one bootstrap token: what to check the downloaded file against."""

    size: int = Field(description="Bytes in the image (the download's Content-Length).")
    sha256: str = Field(description="Hex SHA-256 of this token's personalised image (`sha256sum` prints it).")
    etag: str = Field(description="The download's ETag (If-Range for resuming).")


class EdgeImageCompressed(Shape):
    """The compressed (``.img.xz``) image of one bootstrap token: ready, with what to check it against, or
    still being prepared (the generic image is compressed once, then every download is ready at once)."""

    ready: bool = Field(description="Whether the .img.xz can be downloaded now.")
    progress: float = Field(ge=0, le=1, description="Share of the generic image compressed so far (1 when ready).")
    size: int | None = Field(description="Bytes of the .img.xz (the download's Content-Length); null until ready.")
    sha256: str | None = Field(description="Hex SHA-256 of this token's .img.xz; null until ready.")
    etag: str | None = Field(description="The download's ETag (If-Range for resuming); null until ready.")
    image_size: int = Field(description="Bytes of the image once decompressed (what is written to the disk).")


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


# --- a device's desired configuration (mirrors guardian.edge.v1.CameraConfig; GET/PUT /devices/{id}/config) ---

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# rtsp(s)://host[:port][/path…], no user:password@ (credentials travel sealed), no spaces or control characters.
STREAM_URL_PATTERN = r"^rtsps?://[^\x00-\x20\x7f/?#@]+([/?#][^\x00-\x20\x7f]*)?$"
# The same without the "@" rule: a URL with credentials passes the schema and is refused by name
# (422 credentials_in_url) rather than as a mere pattern mismatch.
_STREAM_URL = re.compile(r"^rtsps?://[^\x00-\x20\x7f/?#]+([/?#][^\x00-\x20\x7f]*)?$")
# Unpadded base64url (a length of 4n+1 cannot be decoded).
BASE64URL_PATTERN = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$"

# What the edge's detectors can report and a camera owner can ask for (COCO names the models use).
DetectionLabel = Literal["person", "bicycle", "car", "motorcycle", "bus", "train", "truck", "boat", "bird", "cat", "dog",
                         "horse", "sheep", "cow", "bear", "backpack", "handbag", "suitcase", "umbrella"]


def _stream_url(value: str) -> str:
    if not _STREAM_URL.match(value):
        raise PydanticCustomError("stream_url", "must be an rtsp:// or rtsps:// URL without spaces")
    return value


StreamUrl = Annotated[str, AfterValidator(_stream_url),
                      Field(min_length=10, max_length=500, json_schema_extra={"pattern": STREAM_URL_PATTERN})]
ConfigName = Annotated[str, Field(pattern=NAME_PATTERN)]


def _unique(names: list[str], what: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise PydanticCustomError("not_unique", "{what} must be unique: {repeated}",
                                  {"what": what, "repeated": ", ".join(repeated)})


class ConfigPoint(Shape):
    x: float = Field(ge=0, le=1, description="From the left edge, as a fraction of the width.")
    y: float = Field(ge=0, le=1, description="From the top edge, as a fraction of the height.")


class ConfigPolygon(Shape):
    name: ConfigName = Field(description="Unique among the camera's zones (or masks); events carry zone names.")
    points: list[ConfigPoint] = Field(min_length=3, max_length=64)


class SealedCredentials(Shape):
    """"username:password" sealed in the browser to the device's config key (libsodium crypto_box_seal)."""

    ciphertext: str = Field(min_length=66, max_length=1024, pattern=BASE64URL_PATTERN,
                            description="The sealed box, base64url without padding.")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="The config key it was sealed to (config_key.key_id).")


class StreamSourceConfig(Shape):
    url: StreamUrl = Field(description="rtsp:// or rtsps:// URL without user name or password.")
    credentials: SealedCredentials | None = Field(None, description="Sealed credentials; null: the camera needs none.")


class LabelThresholdConfig(Shape):
    label: DetectionLabel
    min_score: float = Field(ge=0, le=1)


class TileConfigShape(Shape):
    columns: int = Field(ge=1, le=4, description="Tiles across (the edge's limit: 4).")
    rows: int = Field(ge=1, le=4, description="Tiles down (the edge's limit: 4).")
    overlap: float = Field(0.2, gt=0, lt=0.5, description="Share of a tile's side shared with its neighbour.")


class DetectionConfigShape(Shape):
    labels: list[DetectionLabel] = Field(default_factory=list, max_length=19,
                                         description="Labels that become events; empty: the device's default.")
    thresholds: list[LabelThresholdConfig] = Field(default_factory=list, max_length=19,
                                                   description="Minimum score per label (others: the default).")
    min_area: float = Field(0, ge=0, lt=1, description="Smallest box as a fraction of the frame; 0: the default.")
    zones: list[ConfigPolygon] = Field(default_factory=list, max_length=16,
                                       description="Named areas; events list the zones they touch.")
    masks: list[ConfigPolygon] = Field(default_factory=list, max_length=16,
                                       description="Areas where detections are dropped.")
    alert_zones: list[ConfigName] = Field(
        default_factory=list, max_length=16,
        description="Names of zones above: a person or vehicle in one makes the event an alert (the rest are "
        "detections); empty: every event is a detection.")
    alert_labels: list[DetectionLabel] = Field(
        default_factory=list, max_length=19,
        description="What makes an alert in an alert zone; empty: a person or any vehicle. A vehicle label "
        "stands for every vehicle (the edge tracks them as one object). Among the labels above, if any.")
    tiles: TileConfigShape | None = Field(
        None, description="Detect on the whole frame plus overlapping tiles (small, distant objects; one more "
        "inference per tile); null: the whole frame only.")
    input_size: Literal[0, 320, 416, 512, 640] = Field(
        0, description="Side of the detector's square input in pixels (with tiles: each tile's); larger finds "
        "smaller, more distant people at a higher cost (about 2× at 640 than at 416); 0: the device's default (its "
        "model's: 640 for the shipped YOLOX-Nano, 416 for NanoDet, unless its config says otherwise).")

    @model_validator(mode="after")
    def _unique_names(self) -> DetectionConfigShape:
        _unique(list(self.labels), "labels")
        _unique([t.label for t in self.thresholds], "threshold labels")
        _unique([z.name for z in self.zones], "zone names")
        _unique([m.name for m in self.masks], "mask names")
        _unique(list(self.alert_zones), "alert zones")
        _unique(list(self.alert_labels), "alert labels")
        not_detected = sorted(set(self.alert_labels) - set(self.labels)) if self.labels else []
        if not_detected:
            raise PydanticCustomError("unknown_alert_label", "alert labels must be among the camera's labels: {names}",
                                      {"names": ", ".join(not_detected)})
        unknown = sorted(set(self.alert_zones) - {z.name for z in self.zones})
        if unknown:
            raise PydanticCustomError("unknown_alert_zone", "alert zones must name zones of the camera: {names}",
                                      {"names": ", ".join(unknown)})
        return self


def _detection_defaults() -> DetectionConfigShape:
    return DetectionConfigShape()


class CameraConfigShape(Shape):
    name: ConfigName = Field(description="Short unique name on the device; used in paths and events.")
    display_name: Text = Field("", max_length=100, description="For people; free text.")
    enabled: bool = Field(True, description="A disabled camera is neither recorded nor watched.")
    record: StreamSourceConfig = Field(description="The main stream, recorded as is.")
    detect: StreamSourceConfig | None = Field(None, description="Optional sub-stream for detection; null: the main stream.")
    detection: DetectionConfigShape = Field(default_factory=_detection_defaults)
    retention_days: float = Field(0, ge=0, le=3650, description="Continuous recording kept, in days; 0: the device's default.")


class SealedPassword(Shape):
    """A password alone sealed in the browser to the device's config key (libsodium crypto_box_seal)."""

    ciphertext: str = Field(min_length=66, max_length=1024, pattern=BASE64URL_PATTERN,
                            description="The sealed box, base64url without padding.")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="The config key it was sealed to (config_key.key_id).")


MQTT_HOST_PATTERN = r"^[A-Za-z0-9.:\[\]_-]{1,253}$"
MQTT_PREFIX_PATTERN = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"


MQTT_CA_MAX = 16384  # a few CA certificates; the edge keeps the section in its config rows


def _check_ca_pem(text: str) -> None:
    """PEM certificates and nothing else (a private key pasted by mistake is refused, not stored)."""
    if "PRIVATE KEY" in text:
        raise PydanticCustomError("mqtt_ca_pem", "this is a private key: paste the CA's certificate only")
    try:
        x509.load_pem_x509_certificates(text.encode())  # a broker's self-signed certificate will do too
    except ValueError:
        raise PydanticCustomError("mqtt_ca_pem", "not a PEM certificate (-----BEGIN CERTIFICATE----- …)") from None


class MqttConfigShape(Shape):
    """The site's MQTT broker (Home Assistant): the edge publishes events, occupancy and snapshots to it on
    the LAN; nothing of it reaches the cloud."""

    enabled: bool = Field(False, description="Publish to the broker.")
    host: str = Field("", max_length=253, description="The broker's host name or address on the device's LAN.")
    port: int = Field(0, ge=0, le=65535, description="0: 1883, or 8883 with TLS.")
    username: Text = Field("", max_length=128, description="Empty: anonymous.")
    password: SealedPassword | None = Field(None, description="Sealed to the device's config key; null: none.")
    topic_prefix: str = Field("", max_length=64, description="Topics start with it; empty: guardian.")
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery.")
    tls: bool = Field(False, description="Connect with TLS; the broker's certificate and host name are verified.")
    ca_pem: str = Field("", max_length=MQTT_CA_MAX, description="With TLS: the CA certificate(s) that signed the "
                        "broker's (PEM; a site's own CA); empty: the device's system CAs.")

    @model_validator(mode="after")
    def _broker(self) -> MqttConfigShape:
        if self.enabled and not re.match(MQTT_HOST_PATTERN, self.host):
            raise PydanticCustomError("mqtt_host", "an enabled broker needs a host name or address")
        if self.ca_pem and not self.tls:
            raise PydanticCustomError("mqtt_ca_without_tls", "a CA certificate is only used with TLS: turn TLS on")
        if self.ca_pem:
            _check_ca_pem(self.ca_pem)
        if self.topic_prefix and not re.match(MQTT_PREFIX_PATTERN, self.topic_prefix):
            raise PydanticCustomError("mqtt_prefix", "topic prefix: letters, digits, _ - and / only (no wildcards)")
        return self


class DeviceConfigUpdate(Shape):
    base_version: int = Field(ge=0, le=2**31 - 1, description="The version this edit started from (0: none yet); "
                              "409 version_conflict when another one was saved since.")
    cameras: list[CameraConfigShape] = Field(max_length=16)
    mqtt: MqttConfigShape | None = Field(None, description="The site's MQTT broker; null: none; left out: kept "
                                         "as the newest version has it.")

    @model_validator(mode="after")
    def _unique_cameras(self) -> DeviceConfigUpdate:
        _unique([c.name for c in self.cameras], "camera names")
        return self


class CameraApplyStatusPublic(Shape):
    camera: str
    state: Literal["applied", "failed", "removed"]
    error: str = Field(description="Why it failed, for people.")


class MqttStatusPublic(Shape):
    state: Literal["connected", "failing", "disabled"] = Field(
        description="The device's connection to the site's MQTT broker; disabled: no broker set.")
    error: str = Field(description="Why it fails (a refused login, a certificate not trusted), for people.")


class DeviceConfigReported(Shape):
    applied_version: int = Field(description="The version the device applied; 0: none yet.")
    refused_version: int = Field(description="The newest version it refused as a whole; 0: none.")
    refused_reason: str
    cameras: list[CameraApplyStatusPublic] = Field(description="Per camera of the applied (or tried) version.")
    reported_at: datetime | None = Field(description="null: the device has not reported yet.")
    mqtt: MqttStatusPublic | None = Field(None, description="null: the device has not reported its MQTT state.")


class ConfigKeyPublic(Shape):
    key_id: str
    public_key: str = Field(description="The device's X25519 public key (base64url): seal credentials to it.")


class DeviceConfigPublic(Shape):
    device_id: str
    version: int = Field(description="The newest desired version; 0: none saved yet.")
    created_at: datetime | None
    cameras: list[CameraConfigShape]
    reported: DeviceConfigReported
    config_key: ConfigKeyPublic | None = Field(description="null until the device reports its key.")
    mqtt: MqttConfigShape | None = Field(None, description="The site's MQTT broker; null: none set.")


class RelayConfigs(Shape):
    configs: list[dict[str, Any]] = Field(description="guardian.edge.v1.DesiredConfig messages (proto3 JSON), the "
                                          "newest of each device changed after the cursor.")
    cursor: str = Field(description="Pass as `after` next time.")


class ErrorBody(Shape):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


class ErrorResponse(Shape):
    error: ErrorBody


# --- push notifications (cloud/api/routes/notifications.py) ----------------------------------------

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# Strict where JSON Schema says boolean or number: "0" or 0 for false is refused, as the document promises.


class PushKeyPublic(Shape):
    enabled: bool = Field(description="false: this cloud sends no notifications (no VAPID key configured).")
    public_key: str | None = Field(description="VAPID public key for `PushManager.subscribe` "
                                   "(`applicationServerKey`), base64url; null when not enabled.")


class PushKeys(Shape):
    p256dh: str = Field(pattern=r"^[A-Za-z0-9_-]{86,88}={0,2}$", description="The browser's P-256 key (base64url).")
    auth: str = Field(pattern=r"^[A-Za-z0-9_-]{22}={0,2}$", description="The 16-byte auth secret (base64url).")


class PushSubscriptionCreate(Shape):
    """``PushSubscription.toJSON()`` of this browser (``expirationTime`` is ignored)."""

    endpoint: str = Field(min_length=12, max_length=1000, pattern=r"^https?://[!-~]+$",
                          description="The push service URL the browser was given.")
    keys: PushKeys
    expirationTime: StrictFloat | StrictInt | None = Field(None, ge=0, description="Ignored: push services answer 410 when it ends.")


class PushSubscriptionPublic(Shape):
    id: str
    endpoint: str
    created_at: datetime


class QuietHours(Shape):
    start: str = Field(pattern=_HHMM, description="HH:MM in the rules' time zone.")
    end: str = Field(pattern=_HHMM, description="HH:MM; before start: the quiet hours run past midnight.")


class NotificationRulesShape(Shape):
    """The signed-in member's rules; an empty list means any camera, label or zone."""

    enabled: StrictBool = True
    cameras: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,36}$")]] = Field(
        default_factory=list, max_length=64, description="Camera ids (GET /cameras).")
    labels: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]] = Field(
        default_factory=list, max_length=64)
    zones: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]] = Field(default_factory=list, max_length=64)
    quiet_hours: QuietHours | None = Field(None, description="Daily hours without notifications; null: none.")
    time_zone: str = Field("UTC", min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
                           description="IANA time zone of the quiet hours, e.g. Europe/Paris.")
    severity: Literal["all", "alert"] = Field(
        "all", description="all: every matching event; alert: only events the edge judged alerts (a person or "
        "vehicle in an alert zone). One notification per review item either way.")


Severity = Literal["alert", "detection"]


class ReviewAllCreate(Shape):
    """Mark reviewed every event matching these filters (the timeline's), for the signed-in member only."""

    camera: Text | None = Field(None, max_length=64)
    label: Text | None = Field(None, max_length=64)
    zone: str | None = Field(None, pattern=NAME_PATTERN)
    severity: Severity | None = None
    since: Timestamp | None = Field(None, description="Start time ≥ this.")
    until: Timestamp | None = Field(None, description="Start time < this; pass the time the list was loaded so "
                                    "events that arrived since stay unreviewed. Default: now.")


class ReviewItemPublic(Shape):
    """A review item: a camera's overlapping activity as the edge grouped it (an event from an older edge is
    an item of its own)."""

    id: str = Field(description="The item's id (the edge's, or its only event's); its events: "
                    "`GET /api/v1/events?review_item=`.")
    device_id: str
    camera: str
    start_at: datetime = Field(description="When its first event started.")
    end_at: datetime | None = Field(description="When its last event ended; null while one is still going on.")
    labels: list[str] = Field(description="Its events' labels, first seen first.")
    zones: list[str] = Field(description="Names of the camera's zones its events touched, first entered first.")
    severity: Literal["alert", "detection"] = Field(description="alert when any of its events is one.")
    event_count: int
    best_event_id: str = Field(description="The event with the highest confidence: its thumbnail shows the item.")
    reviewed: bool = Field(description="Whether the signed-in member has reviewed all of its events.")


class ReviewItemPage(Shape):
    items: list[ReviewItemPublic]
    next_cursor: str | None


class ReviewItemsReviewedCreate(ReviewAllCreate):
    """Mark reviewed, for the signed-in member, every item the items page lists with these filters."""

    until: Timestamp | None = Field(None, description="Only items that started before this (the filter).")
    loaded_at: Timestamp | None = Field(None, description="When the list was loaded: items that started since, "
                                        "and the listed items' events that started since, stay unreviewed. Default: now.")


class ReviewItemsReviewedPublic(Shape):
    items: int = Field(description="How many items had events marked (those already reviewed are not counted).")
    events: int = Field(description="How many of their events were marked.")


class ReviewAllPublic(Shape):
    marked: int = Field(description="How many events were marked (the ones already reviewed are not counted).")


class CameraUnread(Shape):
    camera: str
    count: int


class UnreadPublic(Shape):
    total: int
    cameras: list[CameraUnread] = Field(description="Cameras with unreviewed events (`/reviews/unread`) or items "
                                        "(`/review-items/unread`), by name.")


# --- the operator's fleet page (GET /api/v1/fleet): ids only, no e-mail, name of a tenant, device or camera


class FleetAlertPublic(Shape):
    name: str = Field(description="The alert rule's name (alertname), e.g. GuardianEdgeOffline.")
    severity: str = Field(description="Its severity label (critical, warning); empty when the rule sets none.")
    summary: str
    runbook_url: str = Field(description="Where docs/runbooks.md explains what to do; empty when the rule has none.")
    starts_at: datetime


class FleetRelayPublic(Shape):
    id: str
    name: str
    endpoint_url: str
    tenant_id: str | None = Field(description="The tenant it serves; null while in the pool.")
    status: Literal["online", "silent", "never_seen", "disabled"] = Field(
        description="online: signed a call to the cloud within 180 s; silent: not since; never_seen: never called; "
        "disabled by an operator.")
    last_seen_at: datetime | None = Field(description="Its last signed call to the cloud.")
    agent_version: str = Field(description="The software version it names in its calls (User-Agent); empty "
                               "until a relay of this release has called.")
    devices: int = Field(description="Enrolled devices it last reported.")
    alerts: list[FleetAlertPublic]


class FleetDevicePublic(Shape):
    id: str
    tenant_id: str
    relay_id: str | None
    status: str = Field(description="healthy, degraded, offline or unknown, as its relay last reported it.")
    agent_version: str = Field(description="The software (image) version the device reports.")
    desired_config_version: int = Field(description="The newest configuration version saved; 0: none.")
    applied_config_version: int = Field(description="The version the device reports applied; 0: none yet.")
    last_seen_at: datetime | None = Field(description="When its relay last heard from it; null: never.")
    cameras_up: int = Field(description="Cameras streaming.")
    cameras_down: int = Field(description="Cameras whose stream failed.")
    cameras_total: int
    alerts: list[FleetAlertPublic]


class FleetPublic(Shape):
    relays: list[FleetRelayPublic]
    devices: list[FleetDevicePublic]
    other_alerts: list[FleetAlertPublic] = Field(
        description="Firing alerts about no listed device or relay (the cloud itself, an unlabelled target).")
    alertmanager_configured: bool = Field(description="Whether the cloud reads alerts from an Alertmanager.")
    alerts_error: str | None = Field(
        description="Why the alerts could not be read (Alertmanager unreachable, slow or answering an error); "
        "null when they were, or when no Alertmanager is configured.")
    generated_at: datetime
