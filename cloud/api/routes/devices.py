"""Edge devices (from relay reports), their revocation, the bootstrap tokens that let new devices enrol, and
the short-lived tokens that let a browser reach a device through its relay (pictures, discovery, probes)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from cloud.api.deps import CloudDep, TenantAdmin, TenantDep, TenantScope
from cloud.api.params import PathId
from cloud.api.schemas import (
    BootstrapTokenCreate,
    BootstrapTokenIssued,
    BootstrapTokenPublic,
    CameraConfigShape,
    ConfigKeyPublic,
    DeviceConfigPublic,
    DeviceConfigReported,
    DeviceConfigUpdate,
    DevicePublic,
    DeviceTokenCreate,
    DeviceTokenPublic,
    DeviceUpdate,
    ErrorResponse,
    MqttConfigShape,
)
from cloud.core.db import utcnow
from cloud.core.errors import Conflict, NotFound
from cloud.services import accounts, device_config, live_sessions
from cloud.services.devices import revoke_device as revoke
from cloud.tables import BootstrapToken, Camera, Device
from guardian.contracts import auth
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1", tags=["devices"])
log = get_logger("cloud.devices")


def _device(scope: TenantScope, device_id: str) -> Device:
    """One of the tenant's devices that is not revoked (a revoked one is gone for the tenant), or 404."""
    device = scope.get(Device, device_id, "device")
    if device.revoked_at is not None:
        raise NotFound("device not found")
    return device


def _public(session: Session, tenant_id: str, devices: list[Device]) -> list[DevicePublic]:
    versions = device_config.versions_of(session, tenant_id, [d.id for d in devices])
    return [DevicePublic.model_validate(d).model_copy(update={
        "desired_config_version": versions[d.id][0], "applied_config_version": versions[d.id][1]}) for d in devices]


@router.get("/devices", response_model=list[DevicePublic])
def list_devices(scope: TenantDep) -> list[DevicePublic]:
    rows = scope.session.scalars(scope.select(Device).where(Device.revoked_at.is_(None)).order_by(Device.created_at))
    return _public(scope.session, scope.id, list(rows))


@router.get("/devices/{device_id}", response_model=DevicePublic)
def get_device(device_id: PathId, scope: TenantDep) -> DevicePublic:
    return _public(scope.session, scope.id, [_device(scope, device_id)])[0]


@router.patch("/devices/{device_id}", response_model=DevicePublic)
def rename_device(device_id: PathId, body: DeviceUpdate, scope: TenantAdmin) -> DevicePublic:
    device = _device(scope, device_id)
    device.name = body.name
    return _public(scope.session, scope.id, [device])[0]


def _config_public(config: device_config.DeviceConfig) -> DeviceConfigPublic:
    reported = config.reported
    key = (ConfigKeyPublic(key_id=reported.config_key_id, public_key=reported.config_public_key)
           if reported.config_key_id else None)
    return DeviceConfigPublic(
        device_id=config.device_id, version=config.version, created_at=config.created_at,
        cameras=[CameraConfigShape.model_validate(c) for c in config.cameras],
        reported=DeviceConfigReported.model_validate({
            "applied_version": reported.applied_version, "refused_version": reported.refused_version,
            "refused_reason": reported.refused_reason, "cameras": list(reported.cameras),
            "reported_at": reported.reported_at,
            "mqtt": {"state": reported.mqtt_state, "error": reported.mqtt_error} if reported.mqtt_state else None}),
        config_key=key,
        mqtt=MqttConfigShape.model_validate(config.mqtt) if config.mqtt is not None else None,
    )


@router.get("/devices/{device_id}/config", response_model=DeviceConfigPublic)
def get_device_config(device_id: PathId, scope: TenantDep) -> DeviceConfigPublic:
    """The device's newest desired configuration, what it reports applied (per camera), and its config key:
    the browser seals camera credentials to ``config_key`` before saving."""
    return _config_public(device_config.device_config(scope.session, _device(scope, device_id)))


_CONFIG_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": DeviceConfigPublic, "description": "Identical to the newest version: nothing saved."},
    409: {"model": ErrorResponse, "description": "`version_conflict` (another version was saved since "
          "base_version), `stale_config_key` (credentials sealed to an older key), `no_config_key` (the device "
          "reported no key yet) or `camera_limit` (the plan's enabled cameras)."},
    422: {"model": ErrorResponse, "description": "`credentials_in_url`: a stream URL holds a user name or "
          "password (seal them instead), or `invalid_request`."},
}


@router.put("/devices/{device_id}/config", status_code=status.HTTP_201_CREATED, response_model=DeviceConfigPublic,
            responses=_CONFIG_ERRORS)
def save_device_config(device_id: PathId, body: DeviceConfigUpdate, scope: TenantAdmin, cloud: CloudDep,
                       response: Response) -> DeviceConfigPublic:
    """Save the device's cameras as its next configuration version (201; tenant admins); its relay hands it
    to the device, which reports what it applied. Camera credentials are sealed (``credentials``), never in
    a URL. Saving what the newest version holds already answers that version with 200."""
    device = _device(scope, device_id)
    cameras = [c.model_dump(exclude_none=True) for c in body.cameras]
    if "mqtt" in body.model_fields_set:
        mqtt = body.mqtt.model_dump(exclude_none=True) if body.mqtt is not None else None
    else:  # a save of the cameras alone (an older client) keeps the MQTT section; null removes it
        mqtt = device_config.device_config(scope.session, device).mqtt
    config, created = device_config.save(scope.session, cloud.bus, scope.tenant, device, body.base_version, cameras,
                                         scope.user.id, mqtt)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _config_public(config)


def _camera_names(scope: TenantScope, device: Device) -> set[str]:
    """The device's cameras: in its newest desired config, in what it reported applied, and in its health."""
    config = device_config.device_config(scope.session, device)
    names = {str(c.get("name")) for c in config.cameras}
    names.update(str(c.get("camera")) for c in config.reported.cameras)
    names.update(scope.session.scalars(scope.select(Camera, Camera.name).where(Camera.device_id == device.id)))
    return names


_ACCESS_TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "`forbidden`: `discover` and `probe` need a tenant admin."},
    404: {"model": ErrorResponse, "description": "`not_found`: no such device (or revoked); `camera_not_found`: "
          "the device has no camera of that name."},
    409: {"model": ErrorResponse, "description": "`no_relay`: the tenant has no relay yet; `live_viewer_limit`: "
          "the plan's concurrent live views are all open."},
}


@router.post("/devices/{device_id}/access-token", status_code=status.HTTP_201_CREATED,
             response_model=DeviceTokenPublic, responses=_ACCESS_TOKEN_ERRORS)
def device_access_token(device_id: PathId, body: DeviceTokenCreate, scope: TenantDep,
                        cloud: CloudDep) -> DeviceTokenPublic:
    """A token (≤ 5 min) the browser presents to the tenant's relay to reach this device: a camera's latest
    picture (``picture``, any member), an ONVIF search of its LAN (``discover``) or a stream test (``probe``),
    the last two for tenant admins; or a live view of a camera (``live``, any member), which opens a live
    session in the tenant's audit (``live_session_id``) within the plan's concurrent viewers. What the device
    answers passes through the relay only, never the cloud."""
    scopes = sorted(set(body.scopes))
    if {"discover", "probe"} & set(scopes):
        scope.require_admin()
    device = _device(scope, device_id)
    if body.camera is not None and body.camera not in _camera_names(scope, device):
        raise NotFound("the device has no camera of that name", code="camera_not_found")
    relay = accounts.tenant_relay(scope.session, scope.id)
    if relay is None:
        raise Conflict("no relay is assigned to this tenant yet", code="no_relay")
    ttl = cloud.settings.tokens.clip_token_seconds
    now = int(utcnow().timestamp())
    live_session_id: str | None = None
    if "live" in scopes:
        assert body.camera is not None  # the schema's rule
        live = live_sessions.start(scope.session, scope.tenant, scope.user.id, device.id, body.camera,
                                   body.stream or "sub", utcnow(), datetime.fromtimestamp(now + ttl, UTC))
        live_session_id = live.id
    token = auth.mint_device_token(
        cloud.signing_key, tenant_id=scope.id, device_id=device.id, scopes=scopes, camera=body.camera,
        relay_url=relay.endpoint_url, ttl=ttl, now=now, stream=body.stream,
    )
    log.info("device_token_issued", tenant=scope.id, device=device.id, scopes=",".join(scopes),
             live_session=live_session_id)
    return DeviceTokenPublic(token=token, relay_url=relay.endpoint_url, scopes=scopes, camera=body.camera,
                             expires_at=datetime.fromtimestamp(now + ttl, UTC), live_session_id=live_session_id)


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_device(device_id: PathId, scope: TenantAdmin) -> Response:
    """Revoke a device for good (tenant admins). Its relay learns it from ``GET /api/v1/relay/revocations``
    and refuses it (tunnel peer removed, streams closed, no re-enrolment under this id); the cloud stores
    nothing more it reports. Its cameras leave the list (and the plan's camera count); past events stay
    until retention removes them. Repeating the call is harmless (204).
    """
    device = scope.get(Device, device_id, "device")
    revoke(scope.session, device, reason="revoked", by="tenant_admin")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/bootstrap-tokens", response_model=list[BootstrapTokenPublic])
def list_bootstrap_tokens(scope: TenantAdmin) -> list[BootstrapTokenPublic]:
    rows = scope.session.scalars(scope.select(BootstrapToken).order_by(BootstrapToken.created_at.desc()))
    return [BootstrapTokenPublic.model_validate(t) for t in rows]


@router.post(
    "/bootstrap-tokens", status_code=status.HTTP_201_CREATED, response_model=BootstrapTokenIssued,
    responses={503: {"model": ErrorResponse, "description": "`relay_pool_empty`: the tenant has no relay yet and "
                     "none is free (see `Retry-After`)."}},
)
def create_bootstrap_token(body: BootstrapTokenCreate, scope: TenantAdmin, cloud: CloudDep) -> BootstrapTokenIssued:
    """A single-use, expiring token for enrolling a new device with the tenant's relay. Shown once.

    The tenant's first token takes a relay from the pool for it (a new tenant holds none); 503
    ``relay_pool_empty`` when none is free."""
    relay = accounts.assign_relay(scope.session, scope.tenant)
    ttl = cloud.settings.tokens.bootstrap_token_hours * 3600
    nonce = secrets.token_urlsafe(18)
    now = utcnow()
    text = auth.mint_bootstrap_token(
        cloud.signing_key, tenant_id=scope.id, relay_id=relay.id, ttl=ttl, label=body.label, nonce=nonce, now=now.timestamp(),
        token_format=cloud.settings.tokens.format,
    )
    row = BootstrapToken(
        id=nonce, tenant_id=scope.id, relay_id=relay.id, label=body.label, created_by=scope.user.id,
        created_at=now, expires_at=now + timedelta(seconds=ttl),
    )
    scope.session.add(row)
    scope.session.flush()
    log.info("bootstrap_token_issued", tenant=scope.id, token_id=row.id)
    return BootstrapTokenIssued(**BootstrapTokenPublic.model_validate(row).model_dump(), token=text)


@router.delete("/bootstrap-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_bootstrap_token(token_id: PathId, scope: TenantAdmin) -> Response:
    """Revoke a token; relays learn of it from ``GET /api/v1/relay/revocations``."""
    row = scope.get(BootstrapToken, token_id, "bootstrap token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
