"""What the relay tells the cloud of a device's cameras: state, last frame, and the health the Cameras page
shows (fps, bitrate, last error), from the device's latest telemetry."""

from __future__ import annotations

from datetime import UTC, datetime

from agents.relay.db.tables import Device
from agents.relay.health import to_device_health
from guardian.contracts.edge.v1 import uplink_pb2


def test_camera_health_carries_fps_bitrate_and_the_last_error() -> None:
    telemetry = uplink_pb2.Telemetry(cameras=[
        uplink_pb2.CameraStatus(camera="porch", state="streaming", fps=14.5, bitrate_bps=1_250_000.0),
        uplink_pb2.CameraStatus(camera="yard", state="failed", reason="the camera refused the password"),
    ])
    telemetry.cameras[0].last_frame_at.FromDatetime(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    device = Device(device_id="edge-1", status="healthy", agent_version="1.0", status_reason="",
                    last_seen=None, last_telemetry=telemetry.SerializeToString())

    porch, yard = to_device_health(device).cameras

    assert (porch.camera, porch.state, porch.fps, porch.bitrate_bps, porch.reason) == (
        "porch", "streaming", 14.5, 1_250_000.0, "")
    assert porch.last_frame_at.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert (yard.state, yard.fps, yard.reason) == ("failed", 0.0, "the camera refused the password")
