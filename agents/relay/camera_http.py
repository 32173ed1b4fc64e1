"""The browser-facing camera endpoints: a camera's latest picture, an ONVIF search of the device's LAN,
and a stream probe, each asked of the edge's EdgeCameras server on demand.

    GET|HEAD /media/v1/devices/{device_id}/cameras/{camera}/picture.jpg?token=T   image/jpeg
    POST     /media/v1/devices/{device_id}/discover     (Bearer T, no body)    {"took_s", "cameras": [...]}
             … with a JSON body {"address", "sealed_credentials"}: that one device asked again, with a login
    POST     /media/v1/devices/{device_id}/probe        (Bearer T, JSON body)  {"ok", "codec", ...} | {"ok": false, "error"}

Mounted with the event media (:func:`agents.relay.media_http.create_media_app`: the same listener, CORS
policy and error shape). **Authorisation** is a device token alone
(:func:`guardian.contracts.auth.verify_device_token`), checked offline: this relay's tenant, the path's
device (enrolled here, not revoked) and camera, the scope (``picture``, ``discover``, ``probe``), and
the relay URL when ``media.public_url`` is set. The picture's token may travel in the query (``<img>``
cannot send headers); the POSTs take ``Authorization: Bearer``.

**Answers**: the picture with ``X-Picture-Taken-At`` (RFC 3339, UTC; exposed through CORS); a camera of
the search exactly as ``guardian-edge cameras discover`` prints it, except that an error is
``{"kind", "detail"}`` (as the probe's). Errors are JSON ``{"error": code, "detail": text}``:

====  =========================================================================================
400   ``bad_request`` (probe: not JSON, no rtsp(s):// URL, credentials in the URL, sealed credentials
      not base64; discover with a body: not JSON, no http(s):// address, credentials in it, sealed
      credentials not base64)
401   ``token_missing``, ``token_invalid`` (format, signature, unknown key, a clip token), ``token_expired``
403   ``wrong_tenant``, ``wrong_device``, ``wrong_camera``, ``wrong_scope``, ``wrong_relay``,
      ``unknown_device``, ``device_revoked``
404   ``not_found`` (no such path), ``no_picture`` (the edge has no picture of that camera yet: not
      started, or the camera sends no frames)
413   ``too_large`` (a probe or discover body over 16 KiB)
502   ``edge_error`` (the edge answered with something unexpected)
503   ``device_offline`` (the edge's server cannot be reached)
504   ``device_timeout`` (no answer in ``media.first_byte_timeout_s`` for a picture,
      ``media.discover_timeout_s`` / ``media.probe_timeout_s`` for a search / a probe)
====  =========================================================================================

Privacy: the picture and the sealed credentials pass through memory only; neither is logged or stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agents.relay.config import MediaSettings
from agents.relay.edge_cameras import EdgeCamerasClient
from agents.relay.media_access import (
    COMMON_HEADERS,
    DeviceLookup,
    DeviceRoute,
    authorise_device,
    device_path_ok,
    error_response,
)
from guardian.contracts import auth
from guardian.contracts.edge.v1 import cameras_pb2
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.cameras")

_URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]*@", re.IGNORECASE)
MAX_PROBE_BODY = 16 * 1024
SCOPES = ("picture", "discover", "probe")


def _grpc_error(exc: grpc.aio.AioRpcError, device: DeviceRoute, scope: str) -> Response:
    code = exc.code()
    log.info("camera_edge_error", device=device.device_id, scope=scope, code=code.name)
    if code == grpc.StatusCode.NOT_FOUND and scope == "picture":
        return error_response(404, "no_picture", "the camera box has no picture of this camera yet")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        status, error = (404, "not_found") if scope == "picture" else (400, "bad_request")
        return error_response(status, error, exc.details() or "the camera box refused the request")
    if code == grpc.StatusCode.UNAVAILABLE:
        return error_response(503, "device_offline", "the camera box is offline or cannot be reached")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return error_response(504, "device_timeout", "the camera box did not answer in time")
    return error_response(502, "edge_error", "the camera box answered with an error")


def _optional(text: str) -> str | None:
    return text or None


def camera_json(camera: cameras_pb2.DiscoveredCamera) -> dict[str, Any]:
    """A found camera as ``guardian-edge cameras discover`` prints it (agents.edge.onvif.types.Camera)."""
    return {
        "address": camera.address,
        "scopes": list(camera.scopes),
        "manufacturer": _optional(camera.manufacturer),
        "model": _optional(camera.model),
        "firmware": _optional(camera.firmware),
        "serial": _optional(camera.serial),
        "profiles": [
            {"token": p.token, "name": p.name, "encoding": _optional(p.encoding), "width": p.width or None,
             "height": p.height or None, "fps": p.fps or None, "stream_uri": _optional(p.stream_uri),
             "snapshot_uri": _optional(p.snapshot_uri)}
            for p in camera.profiles
        ],
        "error": {"kind": camera.error.kind, "detail": camera.error.detail} if camera.HasField("error") else None,
    }


def probe_json(result: cameras_pb2.ProbeResult) -> dict[str, Any]:
    if result.ok:
        return {"ok": True, "codec": result.codec, "width": result.width, "height": result.height,
                "fps": result.fps or None}
    return {"ok": False, "error": {"kind": result.error.kind or "protocol", "detail": result.error.detail}}


def _sealed(value: object) -> bytes | None:
    """The sealed box from its base64 text (url-safe or standard, padded or not); raises ValueError."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise ValueError("sealed_credentials must be base64 text")
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("sealed_credentials is not base64") from None


class CameraEndpoint:
    def __init__(
        self,
        *,
        tenant_id: str,
        token_keys: auth.PublicKeys,
        devices: DeviceLookup,
        client: EdgeCamerasClient,
        settings: MediaSettings,
        metrics: AgentMetrics,
    ) -> None:
        self.tenant_id = tenant_id
        self.token_keys = token_keys
        self.devices = devices
        self.client = client
        self.settings = settings
        self.requests = metrics.counter(
            "cameras", "requests_total", "Camera pictures, searches and probes by scope and answer.", ("scope", "status")
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/devices/{device_id}/cameras/{camera}/picture.jpg", self.picture, methods=["GET", "HEAD"]),
            Route("/v1/devices/{device_id}/discover", self.discover, methods=["POST"]),
            Route("/v1/devices/{device_id}/probe", self.probe, methods=["POST"]),
        ]

    async def _authorise(self, request: Request, scope: str, camera: str | None = None) -> DeviceRoute | Response:
        device_id = request.path_params["device_id"]
        if not device_path_ok(device_id, camera):
            return error_response(404, "not_found", "no such path")
        authorised = await authorise_device(request, scope=scope, camera=camera, tenant_id=self.tenant_id,
                                            token_keys=self.token_keys, devices=self.devices,
                                            public_url=self.settings.public_url)
        return authorised if isinstance(authorised, Response) else authorised[0]

    def _counted(self, scope: str, response: Response) -> Response:
        self.requests.labels(scope, str(response.status_code)).inc()
        if response.status_code >= 400:
            log.info("camera_request_refused", scope=scope, status=response.status_code)
        return response

    # --- the handlers ---------------------------------------------------------------------------
    async def picture(self, request: Request) -> Response:
        camera = request.path_params["camera"]
        device = await self._authorise(request, "picture", camera)
        if isinstance(device, Response):
            return self._counted("picture", device)
        try:
            picture = await self.client.picture(device.address, camera, self.settings.first_byte_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return self._counted("picture", _grpc_error(exc, device, "picture"))
        taken = picture.taken_at.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        headers = {**COMMON_HEADERS, "X-Picture-Taken-At": taken, "Content-Length": str(len(picture.jpeg))}
        body = b"" if request.method == "HEAD" else picture.jpeg
        return self._counted("picture", Response(body, headers=headers, media_type="image/jpeg"))

    async def _body(self, request: Request) -> bytes | None:
        """The request's body, or None when it is over MAX_PROBE_BODY."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PROBE_BODY:
                return None
        return body

    async def discover(self, request: Request) -> Response:
        device = await self._authorise(request, "discover")
        if isinstance(device, Response):
            return self._counted("discover", device)
        body = await self._body(request)
        if body is None:
            return self._counted("discover", error_response(413, "too_large", f"the body is over {MAX_PROBE_BODY} bytes"))
        address, sealed = "", None
        if body.strip():  # one device asked again, with a login: {"address", "sealed_credentials"}
            try:
                asked = json.loads(body)
                if not isinstance(asked, dict):
                    raise ValueError("the body must be a JSON object")
                given = asked.get("address")
                if not isinstance(given, str) or not given.lower().startswith(("http://", "https://")) \
                        or len(given) > 2048:
                    raise ValueError("address must be an http:// or https:// URL")
                if _URL_WITH_CREDENTIALS.match(given):
                    raise ValueError("the address must not carry credentials: send them sealed")
                address, sealed = given, _sealed(asked.get("sealed_credentials"))
            except ValueError as exc:  # json.JSONDecodeError is one
                detail = str(exc) if not isinstance(exc, json.JSONDecodeError) else "the body is not JSON"
                return self._counted("discover", error_response(400, "bad_request", detail))
        try:
            result = await self.client.discover(device.address, self.settings.discover_timeout_s, address, sealed or b"")
        except grpc.aio.AioRpcError as exc:
            return self._counted("discover", _grpc_error(exc, device, "discover"))
        log.info("cameras_discovered", device=device.device_id, found=len(result.cameras), asked_again=bool(address))
        found = {"took_s": result.took_s, "cameras": [camera_json(c) for c in result.cameras]}
        return self._counted("discover", JSONResponse(found, headers=COMMON_HEADERS))

    async def probe(self, request: Request) -> Response:
        device = await self._authorise(request, "probe")
        if isinstance(device, Response):
            return self._counted("probe", device)
        body = await self._body(request)
        if body is None:
            return self._counted("probe", error_response(413, "too_large", f"the body is over {MAX_PROBE_BODY} bytes"))
        try:
            asked = json.loads(body)
            if not isinstance(asked, dict):
                raise ValueError("the body must be a JSON object")
            url = asked.get("url")
            if not isinstance(url, str) or not url.lower().startswith(("rtsp://", "rtsps://")) or len(url) > 2048:
                raise ValueError("url must be an rtsp:// or rtsps:// URL")
            if _URL_WITH_CREDENTIALS.match(url):
                raise ValueError("the URL must not carry credentials: send them sealed")
            sealed = _sealed(asked.get("sealed_credentials"))
        except ValueError as exc:  # json.JSONDecodeError is one
            detail = str(exc) if not isinstance(exc, json.JSONDecodeError) else "the body is not JSON"
            return self._counted("probe", error_response(400, "bad_request", detail))
        try:
            result = await self.client.probe(device.address, url, sealed or b"", self.settings.probe_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return self._counted("probe", _grpc_error(exc, device, "probe"))
        log.info("camera_probed", device=device.device_id, ok=result.ok, error=result.error.kind or None)
        return self._counted("probe", JSONResponse(probe_json(result), headers=COMMON_HEADERS))
