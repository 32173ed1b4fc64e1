"""Live view signalling for browsers: TURN credentials, the SDP offer to the edge and its answer back.

    GET    /media/v1/devices/{device_id}/cameras/{camera}/live             (Bearer T)  {"ice_servers", "expires_at"}
    POST   /media/v1/devices/{device_id}/cameras/{camera}/live             (Bearer T, {"sdp": offer})
           -> {"session", "sdp": answer, "ice_servers", "expires_at"}
    POST   /media/v1/devices/{device_id}/cameras/{camera}/live/{session}   (Bearer T')  {"expires_at"}
    DELETE /media/v1/devices/{device_id}/cameras/{camera}/live/{session}   (Bearer T)  204

T is a device token with the ``live`` scope for that camera (checked offline as for pictures:
:func:`agents.relay.media_access.authorise_device`). The browser first GETs its ICE servers (this relay's
TURN server with a credential minted for it, :mod:`agents.relay.turn_credentials`), gathers its relayed
candidates, then POSTs its offer (no trickle ICE: aiortc takes none). The relay mints the edge its own
TURN credential and hands the offer to the edge's ``EdgeCameras.StartLive`` over the tunnel; the edge
answers. The edge's session ends when the token expires, unless the viewer renews: it POSTs a new token
T' (the cloud mints it for the same audit session) to its session, which then lasts until T' expires (404
``session_not_found`` when it has ended: the viewer starts a new one). A revoked member gets no new token,
so its session ends with the last one. A revoked device's sessions end at once: the relay remembers (in
memory only, until they expire) which sessions it signalled for which device, and when it learns of a
revocation (:meth:`LiveEndpoint.end_sessions_of`, called by the service) it asks the edge to stop each
one (``EdgeCameras.StopLive``) before the device's tunnel peer goes; the edge closes the peer connection
and the browser sees it end. The TURN credentials outlive the token (``live.turn_credential_s``): coturn
checks them again at every refresh, so an allocation left behind dies at the latest with them.

The media never reaches this process: it flows browser ⇄ coturn ⇄ edge, DTLS-SRTP end to end, so coturn
forwards what it cannot read. The relay stores nothing (no session table: the edge keeps the sessions,
the cloud the audit; the in-memory list above is gone with a restart).

Errors are JSON ``{"error", "detail"}`` as for the camera endpoints: 400 ``bad_request`` (no SDP, or the
edge cannot answer the offer), 401/403 as there, 404 ``not_found`` / ``camera_not_found``, 413 ``too_large``,
502 ``edge_error``, 503 ``device_offline`` / ``camera_unavailable`` / ``live_disabled`` (no TURN server
configured), 504 ``device_timeout``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agents.relay.config import LiveSettings, MediaSettings
from agents.relay.edge_cameras import EdgeCamerasClient
from agents.relay.media_access import (
    COMMON_HEADERS,
    DeviceLookup,
    DeviceRoute,
    authorise_device,
    device_path_ok,
    error_response,
)
from agents.relay.turn_credentials import TurnCredentials, mint_turn_credentials
from guardian.contracts import auth
from guardian.contracts.edge.v1 import cameras_pb2
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.live")

_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_OFFER_BODY = 64 * 1024  # an offer with every candidate is a few KiB


def _expiry(grant: auth.DeviceGrant) -> str:
    return datetime.fromtimestamp(grant.expires_at, UTC).isoformat().replace("+00:00", "Z")


def _grpc_error(exc: grpc.aio.AioRpcError, device: DeviceRoute) -> Response:
    code = exc.code()
    log.info("live_edge_error", device=device.device_id, code=code.name)
    if code == grpc.StatusCode.NOT_FOUND:
        return error_response(404, "camera_not_found", "the camera box has no camera of that name")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return error_response(503, "camera_unavailable", exc.details() or "the camera cannot be read now")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return error_response(400, "bad_request", exc.details() or "the camera box cannot answer this offer")
    if code == grpc.StatusCode.UNAVAILABLE:
        return error_response(503, "device_offline", "the camera box is offline or cannot be reached")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return error_response(504, "device_timeout", "the camera box did not answer in time")
    return error_response(502, "edge_error", "the camera box answered with an error")


@dataclass
class _Signalled:
    """A session this relay signalled: enough to stop it at the edge (``expires_at``: the token's, unix)."""

    device_id: str
    address: str
    camera: str
    expires_at: int


class LiveEndpoint:
    def __init__(
        self,
        *,
        tenant_id: str,
        token_keys: auth.PublicKeys,
        devices: DeviceLookup,
        client: EdgeCamerasClient,
        media: MediaSettings,
        settings: LiveSettings,
        turn_secret: bytes,
        metrics: AgentMetrics,
    ) -> None:
        self.tenant_id = tenant_id
        self.token_keys = token_keys
        self.devices = devices
        self.client = client
        self.media = media
        self.settings = settings
        self._turn_secret = turn_secret
        self.requests = metrics.counter("live", "requests_total", "Live view signalling requests by step and answer.",
                                        ("step", "status"))
        self.revoked_ends = metrics.counter("live", "sessions_revoked_total",
                                            "Live sessions ended at the edge because their device was revoked.")
        self._signalled: dict[str, _Signalled] = {}  # session id → where it runs; memory only
        self._revoked: set[str] = set()  # devices whose sessions were ended: an answer racing the revocation is too
        # Callers (the revocation poll, the reconcile loop) wait for stops already under way: the reconcile
        # removes the device's tunnel peer once its call returns, and a stop must not lose that race.
        self._ending = asyncio.Lock()

    def routes(self) -> list[BaseRoute]:
        path = "/v1/devices/{device_id}/cameras/{camera}/live"
        return [
            Route(path, self.ice_servers, methods=["GET"]),
            Route(path, self.offer, methods=["POST"]),
            Route(path + "/{session}", self.renew, methods=["POST"]),
            Route(path + "/{session}", self.stop, methods=["DELETE"]),
        ]

    async def _authorise(self, request: Request) -> tuple[DeviceRoute, auth.DeviceGrant] | Response:
        device_id, camera = request.path_params["device_id"], request.path_params["camera"]
        if not device_path_ok(device_id, camera):
            return error_response(404, "not_found", "no such path")
        if not self.settings.enabled or not self._turn_secret:
            return error_response(503, "live_disabled", "this relay serves no live view (no TURN server configured)")
        return await authorise_device(request, scope="live", camera=camera, tenant_id=self.tenant_id,
                                      token_keys=self.token_keys, devices=self.devices,
                                      public_url=self.media.public_url)

    def _credentials(self, grant: auth.DeviceGrant, side: str) -> TurnCredentials:
        """A TURN credential for a session (``live.turn_credential_s``, at least as long as the token: it must
        outlast renewals, see LiveSettings); the tag only names it in coturn's log."""
        ttl = max(1, grant.expires_at - int(time.time()), self.settings.turn_credential_s)
        return mint_turn_credentials(self._turn_secret, f"live-{side}-{secrets.token_hex(6)}", ttl)

    def _ice_servers(self, grant: auth.DeviceGrant) -> list[dict[str, Any]]:
        creds = self._credentials(grant, "browser")
        return [{"urls": list(self.settings.turn_urls), "username": creds.username, "credential": creds.credential}]

    def _counted(self, step: str, response: Response) -> Response:
        self.requests.labels(step, str(response.status_code)).inc()
        if response.status_code >= 400:
            log.info("live_request_refused", step=step, status=response.status_code)
        return response

    # --- the handlers ---------------------------------------------------------------------------
    async def ice_servers(self, request: Request) -> Response:
        allowed = await self._authorise(request)
        if isinstance(allowed, Response):
            return self._counted("ice", allowed)
        _device, grant = allowed
        body = {"ice_servers": self._ice_servers(grant), "expires_at": _expiry(grant)}
        return self._counted("ice", JSONResponse(body, headers=COMMON_HEADERS))

    async def offer(self, request: Request) -> Response:
        allowed = await self._authorise(request)
        if isinstance(allowed, Response):
            return self._counted("offer", allowed)
        device, grant = allowed
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_OFFER_BODY:
                return self._counted("offer", error_response(413, "too_large", f"the body is over {MAX_OFFER_BODY} bytes"))
        try:
            asked = json.loads(body)
            sdp = asked.get("sdp") if isinstance(asked, dict) else None
            if not isinstance(sdp, str) or not sdp.startswith("v=0"):
                raise ValueError("the body must be {\"sdp\": an SDP offer}")
        except ValueError as exc:  # json.JSONDecodeError is one
            detail = str(exc) if not isinstance(exc, json.JSONDecodeError) else "the body is not JSON"
            return self._counted("offer", error_response(400, "bad_request", detail))
        edge = self._credentials(grant, "edge")
        expires = Timestamp()
        expires.FromSeconds(grant.expires_at)
        offer = cameras_pb2.LiveOffer(
            camera=request.path_params["camera"], sdp=sdp, stream=grant.stream or "sub",
            turn_urls=list(self.settings.edge_turn_urls or self.settings.turn_urls), turn_username=edge.username,
            turn_credential=edge.credential, expires_at=expires,
        )
        try:
            answer = await self.client.start_live(device.address, offer, self.settings.answer_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return self._counted("offer", _grpc_error(exc, device))
        log.info("live_session_signalled", device=device.device_id, session=answer.session_id)
        self._remember(answer.session_id, _Signalled(device.device_id, device.address, offer.camera, grant.expires_at))
        if device.device_id in self._revoked:  # revoked while the edge was answering: end it like the others
            await self.end_sessions_of([device.device_id])
            return self._counted("offer", error_response(403, "device_revoked", "the camera box was revoked"))
        reply = {"session": answer.session_id, "sdp": answer.sdp, "ice_servers": self._ice_servers(grant),
                 "expires_at": _expiry(grant)}
        return self._counted("offer", JSONResponse(reply, headers=COMMON_HEADERS))

    async def renew(self, request: Request) -> Response:
        session = request.path_params["session"]
        if not _SESSION.match(session):
            return self._counted("renew", error_response(404, "not_found", "no such path"))
        allowed = await self._authorise(request)
        if isinstance(allowed, Response):
            return self._counted("renew", allowed)
        device, grant = allowed
        expires = Timestamp()
        expires.FromSeconds(grant.expires_at)
        renewal = cameras_pb2.LiveRenew(session_id=session, camera=request.path_params["camera"], expires_at=expires)
        try:
            renewed = await self.client.renew_live(device.address, renewal, self.media.first_byte_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return self._counted("renew", _grpc_error(exc, device))
        if not renewed.found:
            self._signalled.pop(session, None)
            return self._counted("renew", error_response(404, "session_not_found", "the live session has ended"))
        if (known := self._signalled.get(session)) is not None and known.device_id == device.device_id:
            known.expires_at = max(known.expires_at, grant.expires_at)
        return self._counted("renew", JSONResponse({"expires_at": _expiry(grant)}, headers=COMMON_HEADERS))

    async def stop(self, request: Request) -> Response:
        session = request.path_params["session"]
        if not _SESSION.match(session):
            return self._counted("stop", error_response(404, "not_found", "no such path"))
        allowed = await self._authorise(request)
        if isinstance(allowed, Response):
            return self._counted("stop", allowed)
        device, _grant = allowed
        if (known := self._signalled.get(session)) is not None and known.device_id == device.device_id:
            del self._signalled[session]
        try:
            await self.client.stop_live(device.address, session, request.path_params["camera"], "viewer",
                                        self.media.first_byte_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return self._counted("stop", _grpc_error(exc, device))
        return self._counted("stop", Response(status_code=204, headers=COMMON_HEADERS))

    # --- revocation -------------------------------------------------------------------------------
    def _remember(self, session: str, signalled: _Signalled) -> None:
        now = time.time()
        for stale in [sid for sid, known in self._signalled.items() if known.expires_at < now]:
            del self._signalled[stale]  # ended at the edge by then (the edge keeps the deadline)
        self._signalled[session] = signalled

    async def end_sessions_of(self, device_ids: Iterable[str]) -> int:
        """Stop at the edge every running session this relay signalled for ``device_ids`` (just revoked);
        returns how many the edge had. Never raises: an edge that cannot be told still loses its tunnel
        peer (wireguard mode), and its TURN credential expires."""
        wanted = set(device_ids)
        self._revoked.update(wanted)
        async with self._ending:
            doomed = {sid: known for sid, known in self._signalled.items() if known.device_id in wanted}
            for sid in doomed:
                del self._signalled[sid]
            if not doomed:
                return 0
            timeout = self.media.first_byte_timeout_s
            results = await asyncio.gather(
                *(self.client.stop_live(known.address, sid, known.camera, "revoked", timeout)
                  for sid, known in doomed.items()),
                return_exceptions=True,
            )
        ended = sum(1 for r in results if isinstance(r, cameras_pb2.LiveStopped) and r.found)
        errors = sorted({r.code().name if isinstance(r, grpc.aio.AioRpcError) else type(r).__name__
                         for r in results if isinstance(r, BaseException)})
        self.revoked_ends.inc(ended)
        log.info("live_sessions_revoked", devices=sorted({k.device_id for k in doomed.values()}), ended=ended,
                 failed=sum(isinstance(r, BaseException) for r in results), errors=errors or None)
        return ended
