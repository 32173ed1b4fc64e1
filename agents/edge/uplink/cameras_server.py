"""EdgeCameras: the edge answers its relay about its cameras, on request (a browser asked through the relay).

- ``Picture``: the latest picture the detector kept of a camera (:mod:`agents.edge.detection.picture`).
- ``Discover``: an ONVIF search of the edge's LAN (:func:`agents.edge.onvif.discovery.discover`); or, with an
  address, that one device asked again (:func:`agents.edge.onvif.device.describe`) with a login sealed in the
  browser (a camera that protects its media service answers a search without its profiles).
- ``Probe``: open one stream as the recorder would (:func:`agents.edge.onvif.probe.probe`), with the
  credentials sealed in the browser to this edge's config key, opened here exactly as the config apply
  opens them (:meth:`agents.edge.camera_config.key.ConfigKey.open`) and kept in memory for the probe only.
- ``StartLive`` / ``StopLive`` / ``RenewLive``: the signalling of a live view (:class:`agents.edge.live.hub.LiveHub`):
  the browser's SDP offer and the relay's TURN credentials in, the answer out; the session ends at the live
  token's expiry at the latest, which a renewed token (checked by the relay) moves later.

Served beside EdgeMedia on the same gRPC server, with the same peer checks. Nothing here logs a URL
with credentials or a credential; answers carry redacted reasons only.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config.cameras import KeySource, runnable_cameras
from agents.edge.camera_config.errors import CredentialsUnavailable
from agents.edge.camera_config.key import ConfigKey, with_credentials
from agents.edge.detection.picture import picture_path
from agents.edge.live.errors import NegotiationFailed, StreamUnavailable, UnknownCamera
from agents.edge.live.hub import CameraLookup, LiveHub
from agents.edge.live.types import CameraStreams, LiveStream, StopReason, TurnServer
from agents.edge.onvif.device import describe
from agents.edge.onvif.discovery import discover
from agents.edge.onvif.probe import probe
from agents.edge.onvif.types import Camera, ErrorKind
from agents.edge.uplink.media_server import refuse_unless_relay
from guardian.contracts.edge.v1 import cameras_pb2, cameras_pb2_grpc
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.cameras")

SEARCH_TIMEOUT_S = 3.0  # the WS-Discovery wait, as `guardian-edge cameras discover` has it
DEVICE_TIMEOUT_S = 10.0  # asking one camera for its profiles
PROBE_TIMEOUT_S = 5.0
MAX_SEARCH_TIMEOUT_S = 10.0


def discovered_camera(camera: Camera) -> cameras_pb2.DiscoveredCamera:
    message = cameras_pb2.DiscoveredCamera(
        address=camera.address, scopes=list(camera.scopes), manufacturer=camera.manufacturer or "",
        model=camera.model or "", firmware=camera.firmware or "", serial=camera.serial or "",
    )
    for p in camera.profiles:
        message.profiles.add(
            token=p.token, name=p.name, encoding=p.encoding or "", width=p.width or 0, height=p.height or 0,
            fps=p.fps or 0.0, stream_uri=p.stream_uri or "", snapshot_uri=p.snapshot_uri or "",
        )
    if camera.error is not None:
        message.error.kind, message.error.detail = str(camera.error.kind), camera.error.reason
    return message


def _url_problem(url: str, schemes: tuple[str, str], what: str) -> str | None:
    """Why ``url`` is not one of ``schemes`` with a host and without credentials, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in schemes or not parts.hostname:
        return f"the {what} must be {schemes[0]}:// or {schemes[1]}:// with a host"
    if parts.username is not None or parts.password is not None:
        return f"the {what} must not carry credentials: they travel sealed"
    return None


def probe_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be probed (not RTSP, no host, credentials in it), or None."""
    return _url_problem(url, ("rtsp", "rtsps"), "URL")


def device_address_problem(address: str) -> str | None:
    """Why ``address`` is not an ONVIF device service URL to ask (not http(s), no host, credentials in it), or None."""
    return _url_problem(address, ("http", "https"), "address")


def live_cameras(sessions: sessionmaker[WriterSession], keys: KeySource) -> CameraLookup:
    """The live hub's cameras: those the recorder runs (the cameras table), the recorded stream as the
    main one and the detected stream, when it has its own, as the sub-stream; credentials opened here, in
    memory only."""

    def lookup(camera: str) -> CameraStreams | None:
        spec = next((c for c in runnable_cameras(sessions) if c.name == camera), None)
        if spec is None:
            return None
        try:
            sub = spec.detect_stream_url(keys) if spec.detect_url is not None else None
            return CameraStreams(main_url=spec.record_stream_url(keys), sub_url=sub)
        except CredentialsUnavailable as exc:
            raise StreamUnavailable(camera, f"the camera's credentials cannot be opened ({exc.reason})") from None

    return lookup


class EdgeCamerasService(cameras_pb2_grpc.EdgeCamerasServicer):
    def __init__(self, data_dir: Path, config_key: ConfigKey | None, allowed_peer: str | None = None,
                 allowed_name: str | None = None, probe_timeout_s: float = PROBE_TIMEOUT_S,
                 live: LiveHub | None = None) -> None:
        self.data_dir = data_dir
        self.live = live
        self.config_key = config_key
        self.allowed_peer = allowed_peer
        self.allowed_name = allowed_name
        self.probe_timeout_s = probe_timeout_s

    async def Picture(
        self, request: cameras_pb2.PictureRequest, context: grpc.aio.ServicerContext
    ) -> cameras_pb2.CameraPicture:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        path = picture_path(self.data_dir, request.camera)
        if path is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a camera name")
        assert path is not None

        def read() -> tuple[bytes, float] | None:
            try:
                with path.open("rb") as handle:  # one open file: the bytes and the date of the same picture
                    return handle.read(), os.fstat(handle.fileno()).st_mtime
            except FileNotFoundError:
                return None

        found = await asyncio.to_thread(read)
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no picture of this camera yet")
        assert found is not None
        answer = cameras_pb2.CameraPicture(jpeg=found[0])
        answer.taken_at.FromDatetime(datetime.fromtimestamp(found[1], UTC))
        return answer

    async def Discover(
        self, request: cameras_pb2.DiscoverRequest, context: grpc.aio.ServicerContext
    ) -> cameras_pb2.DiscoverResult:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        if request.address:
            return await self._describe_one(request, context)
        search_s = min(request.search_timeout_s or SEARCH_TIMEOUT_S, MAX_SEARCH_TIMEOUT_S)
        report = await discover(search_s, DEVICE_TIMEOUT_S)
        log.info("cameras_discovered", found=len(report.cameras), seconds=round(report.search_s + report.describe_s, 2))
        return cameras_pb2.DiscoverResult(
            cameras=[discovered_camera(c) for c in report.cameras], took_s=round(report.search_s + report.describe_s, 3)
        )

    async def _describe_one(
        self, request: cameras_pb2.DiscoverRequest, context: grpc.aio.ServicerContext
    ) -> cameras_pb2.DiscoverResult:
        problem = device_address_problem(request.address)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        user = password = None
        if request.sealed_credentials:
            try:
                if self.config_key is None:
                    raise CredentialsUnavailable("discover", "this edge has no config key")
                login = self.config_key.open("discover", request.sealed_credentials)  # memory only
                user, password = login.username, login.password
            except CredentialsUnavailable as exc:
                log.info("camera_describe_credentials_unreadable")
                failed = cameras_pb2.DiscoveredCamera(address=request.address, error=cameras_pb2.CameraError(
                    kind=str(ErrorKind.CREDENTIALS_UNREADABLE), detail=exc.reason))
                return cameras_pb2.DiscoverResult(cameras=[failed])
        started = asyncio.get_running_loop().time()
        camera = await describe(request.address, (), user, password, DEVICE_TIMEOUT_S)
        took = asyncio.get_running_loop().time() - started
        log.info("camera_described", profiles=len(camera.profiles), error=camera.error.kind if camera.error else None)
        return cameras_pb2.DiscoverResult(cameras=[discovered_camera(camera)], took_s=round(took, 3))

    async def Probe(
        self, request: cameras_pb2.ProbeRequest, context: grpc.aio.ServicerContext
    ) -> cameras_pb2.ProbeResult:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        problem = probe_url_problem(request.url)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        url = request.url
        if request.sealed_credentials:
            try:
                if self.config_key is None:
                    raise CredentialsUnavailable("probe", "this edge has no config key")
                url = with_credentials(url, self.config_key.open("probe", request.sealed_credentials))
            except CredentialsUnavailable as exc:
                log.info("camera_probe_credentials_unreadable")
                return cameras_pb2.ProbeResult(
                    ok=False, error=cameras_pb2.CameraError(kind=str(ErrorKind.CREDENTIALS_UNREADABLE), detail=exc.reason)
                )
        result = await asyncio.to_thread(probe, url, self.probe_timeout_s)  # the URL with credentials: memory only
        answer = cameras_pb2.ProbeResult(ok=result.ok)
        if result.stream is not None:
            answer.codec, answer.width, answer.height = result.stream.codec, result.stream.width, result.stream.height
            answer.fps = result.stream.fps or 0.0
        if result.error is not None:
            answer.error.kind, answer.error.detail = str(result.error.kind), result.error.reason
        log.info("camera_probed", ok=result.ok, error=str(result.error.kind) if result.error else None)
        return answer

    async def StartLive(self, request: cameras_pb2.LiveOffer, context: grpc.aio.ServicerContext) -> cameras_pb2.LiveAnswer:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        if self.live is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this edge has no live view")
        assert self.live is not None
        if request.stream not in ("", "sub", "main") or not request.turn_urls:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a live offer needs a stream and a TURN server")
        turn = TurnServer(tuple(request.turn_urls), request.turn_username, request.turn_credential)
        expires_at = request.expires_at.ToDatetime(tzinfo=UTC).timestamp()
        try:
            session, answer = await self.live.open_session(
                request.camera, request.sdp, turn, expires_at, LiveStream(request.stream or "sub"))
        except UnknownCamera:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no camera of that name")
        except StreamUnavailable as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.reason)
        except NegotiationFailed as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.reason)
        log.info("live_session_started", camera=request.camera, session=session.session_id, stream=request.stream or "sub")
        return cameras_pb2.LiveAnswer(session_id=session.session_id, sdp=answer)

    async def StopLive(self, request: cameras_pb2.LiveStop, context: grpc.aio.ServicerContext) -> cameras_pb2.LiveStopped:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        session = self.live.sessions.get(request.session_id) if self.live is not None else None
        if session is None or session.camera != request.camera:
            return cameras_pb2.LiveStopped(found=False)
        await session.close(StopReason.parse(request.reason).end_reason)
        return cameras_pb2.LiveStopped(found=True)

    async def RenewLive(self, request: cameras_pb2.LiveRenew, context: grpc.aio.ServicerContext) -> cameras_pb2.LiveRenewed:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
        expires_at = request.expires_at.ToDatetime(tzinfo=UTC).timestamp()
        found = self.live is not None and self.live.renew_session(request.session_id, request.camera, expires_at)
        return cameras_pb2.LiveRenewed(found=found)
