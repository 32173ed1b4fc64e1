"""What the browser-facing endpoints share (:mod:`~agents.relay.media_http` for event media,
:mod:`~agents.relay.camera_http` for camera pictures, discovery and probes, :mod:`~agents.relay.live_http`
for live view): which device a token may reach (:func:`authorise_device` for device tokens), the token in
the request, and the shape of an error answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

from guardian.contracts import auth

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: On every answer: browsers on the UI's origin may embed it, nothing caches it, nobody sniffs it.
COMMON_HEADERS = {
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
}


_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CAMERA = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")  # a camera name as the desired config allows it


def device_path_ok(device_id: str, camera: str | None = None) -> bool:
    """Whether a path's device id (and camera name) have a shape worth looking up; else the answer is 404."""
    return bool(_DEVICE_ID.match(device_id)) and (camera is None or bool(_CAMERA.match(camera)))


@dataclass(frozen=True)
class DeviceRoute:
    """Where a device's gRPC media server is, and whether it may be asked."""

    device_id: str
    tenant_id: str
    address: str
    revoked: bool


DeviceLookup = Callable[[str], DeviceRoute | None]


def registry_lookup(sessions: Callable[[], Session]) -> DeviceLookup:
    from agents.relay.db.tables import Device

    def lookup(device_id: str) -> DeviceRoute | None:
        with sessions() as session:
            device = session.get(Device, device_id)
            if device is None:
                return None
            return DeviceRoute(device.device_id, device.tenant_id, device.tunnel_address, device.revoked_at is not None)

    return lookup


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": code, "detail": text}`` with the common headers."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers={**COMMON_HEADERS, **(headers or {})})


def request_token(request: Request) -> str | None:
    """The token from ``?token=`` (``<img>``/``<video>`` cannot send headers) or ``Authorization: Bearer``."""
    token = request.query_params.get("token")
    if token:
        return token
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def authorise_device(
    request: Request, *, scope: str, camera: str | None, tenant_id: str, token_keys: auth.PublicKeys,
    devices: DeviceLookup, public_url: str | None,
) -> tuple[DeviceRoute, auth.DeviceGrant] | JSONResponse:
    """The device a device token in ``request`` may reach for ``scope`` (and ``camera``), with the token's
    grant; or the error answer (401 token, 403 tenant/device/scope/camera/relay/revoked). The path's
    ``device_id`` and ``camera`` must have been checked for shape already."""
    token = request_token(request)
    if not token:
        return error_response(401, "token_missing", "a device token is required (Authorization: Bearer …)")
    try:
        grant = auth.verify_device_token(token, token_keys, tenant_id=tenant_id,
                                         device_id=request.path_params["device_id"], scope=scope, camera=camera)
    except auth.TokenExpired:
        return error_response(401, "token_expired", "the device token has expired; ask the cloud for a new one")
    except auth.TokenMismatch as exc:
        return error_response(403, exc.reason, str(exc))
    except auth.TokenError:
        return error_response(401, "token_invalid", "the device token is not valid (format, signature or type)")
    device = await granted_device(grant.relay_url, grant.device_id, "device token", tenant_id=tenant_id,
                                  devices=devices, public_url=public_url)
    return device if isinstance(device, JSONResponse) else (device, grant)


async def granted_device(
    relay_url: str, device_id: str, token_kind: str, *, tenant_id: str, devices: DeviceLookup, public_url: str | None,
) -> DeviceRoute | JSONResponse:
    """The device a verified token (a "clip token", a "device token") names, if this relay serves it and may
    reach it; else the 403 answer (``wrong_relay``, ``unknown_device``, ``device_revoked``)."""
    if public_url and relay_url.rstrip("/") != public_url.rstrip("/"):
        return error_response(403, "wrong_relay", f"the {token_kind} was issued for another relay")
    device = await asyncio.to_thread(devices, device_id)
    if device is None or device.tenant_id != tenant_id:
        return error_response(403, "unknown_device", f"the {token_kind} names a device this relay does not serve")
    if device.revoked:
        return error_response(403, "device_revoked", "the device was revoked")
    return device
