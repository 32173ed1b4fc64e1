"""The uplink's EdgeCameras ``Discover`` against simulated ONVIF cameras on a namespace LAN: the servicer
runs in the edge's namespace and is called over gRPC, and its answer is turned into the browser's JSON by
the relay's own code (agents.relay.camera_http.camera_json), as the relay does it."""

from __future__ import annotations

import json
import sys

import pytest

from .lan import CameraLan

pytestmark = pytest.mark.slow

PASSWORD = "Rpc-s3arch-password"

# Run in the edge namespace: serve EdgeCameras on loopback, call Discover, print the relay's JSON.
SCRIPT = """
import asyncio, json, sys, tempfile
from pathlib import Path
import grpc
from guardian.runtime.logging import configure_logging
configure_logging("INFO", stream=sys.stderr)  # stdout is the answer
from agents.edge.uplink.cameras_server import EdgeCamerasService
from agents.relay.camera_http import camera_json
from guardian.contracts.edge.v1 import cameras_pb2, cameras_pb2_grpc

async def main():
    server = grpc.aio.server()
    cameras_pb2_grpc.add_EdgeCamerasServicer_to_server(EdgeCamerasService(Path(tempfile.mkdtemp()), None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        result = await cameras_pb2_grpc.EdgeCamerasStub(channel).Discover(
            cameras_pb2.DiscoverRequest(search_timeout_s=2.0), timeout=30)
    await server.stop(None)
    print(json.dumps({"took_s": result.took_s, "cameras": [camera_json(c) for c in result.cameras]}))

asyncio.run(main())
"""


def test_discover_finds_the_simulated_cameras(camera_lan: tuple[CameraLan, str]) -> None:
    lan, rtsp_url = camera_lan
    open_camera = lan.start_onvif_camera(rtsp_url)
    guarded = lan.start_onvif_camera(rtsp_url, user="admin", password=PASSWORD)

    proc = lan.run_edge(sys.executable, "-c", SCRIPT)

    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    print(f"discovery through EdgeCameras: {found['took_s']} s")
    cameras = {c["address"]: c for c in found["cameras"]}
    assert set(cameras) == {open_camera, guarded}
    camera = cameras[open_camera]
    assert camera["error"] is None
    assert (camera["manufacturer"], camera["model"], camera["firmware"]) == ("Guardian Test Optics", "SimCam 1", "1.4.2")
    [profile] = camera["profiles"]
    assert (profile["encoding"], profile["width"], profile["height"], profile["stream_uri"]) == ("H264", 768, 576, rtsp_url)
    # Asked without credentials, a camera that needs them is listed with why it could not be described.
    assert cameras[guarded]["error"]["kind"] == "auth_failed" and cameras[guarded]["profiles"] == []
    assert set(cameras[guarded]["error"]) == {"kind", "detail"}
