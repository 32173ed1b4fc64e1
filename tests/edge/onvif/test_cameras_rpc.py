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


# Run in the edge namespace: the same servicer with a config key; ask one address again with logins sealed to it.
DESCRIBE = """
import asyncio, json, sys, tempfile
from pathlib import Path
import grpc
from nacl.public import PublicKey, SealedBox
from guardian.runtime.logging import configure_logging
configure_logging("INFO", stream=sys.stderr)  # stdout is the answer
from agents.edge.camera_config.key import ConfigKey
from agents.edge.uplink.cameras_server import EdgeCamerasService
from agents.relay.camera_http import camera_json
from guardian.contracts.edge.v1 import cameras_pb2, cameras_pb2_grpc

address, password = sys.argv[1], sys.argv[2]
key = ConfigKey.load_or_create(Path(tempfile.mkdtemp()) / "config.key")
seal = lambda login: SealedBox(PublicKey(key.public_key)).encrypt(login.encode())

async def main():
    server = grpc.aio.server()
    cameras_pb2_grpc.add_EdgeCamerasServicer_to_server(EdgeCamerasService(Path(tempfile.mkdtemp()), key), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    out = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = cameras_pb2_grpc.EdgeCamerasStub(channel)
        for name, sealed in (("right", seal("admin:" + password)), ("wrong", seal("admin:not-it")),
                             ("none", b""), ("unreadable", b"not a sealed box")):
            result = await stub.Discover(cameras_pb2.DiscoverRequest(address=address, sealed_credentials=sealed), timeout=30)
            out[name] = [camera_json(c) for c in result.cameras]
        try:
            await stub.Discover(cameras_pb2.DiscoverRequest(address=address.replace("://", "://admin:x@")), timeout=30)
        except grpc.aio.AioRpcError as exc:
            out["with_login_in_address"] = exc.code().name
    await server.stop(None)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_a_protected_camera_is_asked_again_with_the_login_sealed_to_the_edge(camera_lan: tuple[CameraLan, str]) -> None:
    lan, rtsp_url = camera_lan
    guarded = lan.start_onvif_camera(rtsp_url, user="admin", password=PASSWORD)

    proc = lan.run_edge(sys.executable, "-c", DESCRIBE, guarded, PASSWORD)

    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    [right] = out["right"]
    assert right["address"] == guarded and right["error"] is None and right["model"] == "SimCam 1"
    [profile] = right["profiles"]
    assert (profile["encoding"], profile["width"], profile["height"], profile["stream_uri"]) == ("H264", 768, 576, rtsp_url)
    assert [c["error"]["kind"] for c in out["wrong"]] == ["auth_failed"] and out["wrong"][0]["profiles"] == []
    assert [c["error"]["kind"] for c in out["none"]] == ["auth_failed"]
    assert [c["error"]["kind"] for c in out["unreadable"]] == ["credentials_unreadable"]
    assert out["with_login_in_address"] == "INVALID_ARGUMENT"
    assert PASSWORD not in proc.stderr  # the edge's log
