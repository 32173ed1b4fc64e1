"""Why a live session ended, as the edge records it when the relay stops it: the uplink's EdgeCameras
servicer on a real gRPC server, a real LiveHub reading the RTSP test camera, a real coturn for the edge's
relayed candidates, and a real Chromium offer (tests/edge/live/sdp/) answered by aiortc. No browser: the
sessions never connect, which does not matter to how they are stopped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from structlog.testing import capture_logs

from agents.edge.live.hub import LiveHub
from agents.edge.live.types import CameraStreams, TurnServer
from agents.edge.uplink.cameras_server import EdgeCamerasService
from guardian.contracts.edge.v1 import cameras_pb2, cameras_pb2_grpc
from tests.conftest import FakeCamera
from tests.edge.live.test_chromium_offer import chromium_offer
from tests.relay.coturn import Coturn

pytestmark = pytest.mark.slow


def test_the_edge_records_why_the_relay_stopped_a_session(fake_camera: FakeCamera, tmp_path: Path) -> None:
    async def scenario(turn: Coturn) -> dict[str, str | None]:
        hub = LiveHub({"front": CameraStreams(main_url=fake_camera.url())})
        server = grpc.aio.server()
        cameras_pb2_grpc.add_EdgeCamerasServicer_to_server(EdgeCamerasService(tmp_path, None, live=hub), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                edge = cameras_pb2_grpc.EdgeCamerasStub(channel)
                expires = Timestamp()
                expires.FromSeconds(int(time.time()) + 120)

                async def start(tag: str) -> str:
                    creds = turn.mint(f"{tag}-edge")
                    answer = await edge.StartLive(cameras_pb2.LiveOffer(
                        camera="front", sdp=chromium_offer(), stream="sub", turn_urls=[turn.url],
                        turn_username=creds.username, turn_credential=creds.credential, expires_at=expires), timeout=30)
                    return answer.session_id

                sessions = {reason: await start(reason or "none") for reason in ("revoked", "viewer", "")}
                reasons: dict[str, str | None] = {}
                for reason, session_id in sessions.items():
                    session = hub.sessions[session_id]
                    stopped = await edge.StopLive(
                        cameras_pb2.LiveStop(session_id=session_id, camera="front", reason=reason), timeout=10)
                    assert stopped.found
                    await asyncio.wait_for(session.ended.wait(), 10)
                    reasons[reason] = session.end_reason
                return reasons
        finally:
            await server.stop(None)
            await hub.close()

    with Coturn(tmp_path) as turn, capture_logs() as logs:
        reasons = asyncio.run(scenario(turn))
    # A relay of the previous release gives no reason: its stops are the viewer's.
    assert reasons == {"revoked": "device revoked", "viewer": "viewer stopped", "": "viewer stopped"}
    ended = [line["reason"] for line in logs if line["event"] == "live_session_ended"]
    assert ended == ["device revoked", "viewer stopped", "viewer stopped"]


def test_sessions_end_when_their_camera_goes_and_when_the_viewer_never_connects(fake_camera: FakeCamera,
                                                                               tmp_path: Path) -> None:
    """A camera disabled or removed in the config ends its sessions at once (the uplink calls keep_cameras after
    each apply), and its reader lets go of the camera; a viewer that never connects (it left before its browser
    had the answer) is given up after the connect timeout instead of holding the camera until its deadline."""
    async def scenario(turn: Coturn) -> dict[str, object]:
        streams = CameraStreams(main_url=fake_camera.url())
        hub = LiveHub({"front": streams, "back": streams}, connect_timeout_s=4.0)
        expires = time.time() + 120
        try:
            sessions = {}
            for camera in ("front", "back"):
                creds = turn.mint(f"{camera}-edge")
                session, _answer = await hub.open_session(camera, chromium_offer(), TurnServer(
                    urls=(turn.url,), username=creds.username, credential=creds.credential), expires)
                sessions[camera] = session
            await hub.keep_cameras({"back"}, "camera disabled or removed")
            front_reader = hub.reader("front")
            assert front_reader is not None
            out: dict[str, object] = {"front": sessions["front"].end_reason, "back_open": not sessions["back"].ended.is_set()}
            await asyncio.wait_for(sessions["back"].ended.wait(), 30)
            out["back"] = sessions["back"].end_reason
            out["front_reader_running"] = front_reader.running
            return out
        finally:
            await hub.close()

    with Coturn(tmp_path) as turn:
        out = asyncio.run(scenario(turn))
    assert out["front"] == "camera disabled or removed" and out["back_open"], out
    assert out["back"] == "viewer never connected", out
    assert out["front_reader_running"] is False, out
