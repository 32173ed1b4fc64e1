"""The uplink finds media through the real events table, and reports the recorder's camera states and the
detector's inference latency from what those services publish (no shared memory)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from agents.edge.camera_config.store import Outcome, apply
from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.db.tables import EventRow
from agents.edge.events.store import EventStore
from agents.edge.uplink.media_server import EdgeMediaService, EventsLookup
from agents.edge.uplink.telemetry import (
    RecorderCameras,
    SampleSchedule,
    _histogram_buckets,
    histogram_quantile,
)
from agents.edge.video.cameras import save_statuses, sync_cameras
from agents.edge.video.status import CameraState, CameraStatus
from guardian.contracts.edge.v1 import media_pb2, media_pb2_grpc
from guardian.runtime.metrics import AgentMetrics
from tests.edge.camera_config.helpers import DEVICE, camera, desired


def _event(store: EventStore, data_dir: Path, clip: bytes | None) -> str:
    event_id = str(uuid.uuid4())
    start = datetime.now(UTC)
    base = f"events/front/{start:%Y-%m-%d}/{event_id}"
    if clip is not None:
        (data_dir / base).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / f"{base}.mp4").write_bytes(clip)
        (data_dir / f"{base}.jpg").write_bytes(b"\xff\xd8snap")
    store.save(EventRow(
        id=event_id, camera="front", label="person", model="m@1", start_at=start, end_at=start + timedelta(seconds=3),
        ended=True, max_score=0.9, mean_score=0.8, hits=5, snapshot_ref=f"{base}.jpg" if clip else "",
        thumbnail_ref="", clip_ref=f"{base}.mp4" if clip else "", clip_duration_s=3.0, track_json="[]",
    ))
    return event_id


def test_media_is_found_through_the_events_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    engine, sessions = open_database(data / "edge.db")
    store = EventStore(sessions)
    clip = bytes(range(256)) * 2000
    with_clip = _event(store, data, clip)
    without = _event(store, data, None)
    lookup = EventsLookup(sessions, data)
    assert lookup.resolve(with_clip, media_pb2.MediaRequest.CLIP).read_bytes() == clip  # type: ignore[union-attr]
    assert lookup.resolve(with_clip, media_pb2.MediaRequest.SNAPSHOT) is not None
    assert lookup.resolve(with_clip, media_pb2.MediaRequest.THUMBNAIL) is None  # no ref
    assert lookup.resolve(without, media_pb2.MediaRequest.CLIP) is None  # not assembled
    assert lookup.resolve(str(uuid.uuid4()), media_pb2.MediaRequest.CLIP) is None  # unknown event
    # A ref pointing outside the data dir is never served.
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    row = store.get(with_clip)
    row.clip_ref = "../secret.mp4"  # type: ignore[union-attr]
    store.save(row)  # type: ignore[arg-type]
    assert lookup.resolve(with_clip, media_pb2.MediaRequest.CLIP) is None

    async def fetch_over_grpc() -> bytes:
        server = grpc.aio.server()
        media_pb2_grpc.add_EdgeMediaServicer_to_server(EdgeMediaService(lookup), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        other = _event(store, data, clip[::-1])
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = media_pb2_grpc.EdgeMediaStub(channel)
                out = b""
                async for chunk in stub.Fetch(media_pb2.MediaRequest(event_id=other, kind=media_pb2.MediaRequest.CLIP,
                                                                     offset=100, length=1000)):
                    out += chunk.data
                return out
        finally:
            await server.stop(None)

    assert asyncio.run(fetch_over_grpc()) == clip[::-1][100:1100]
    engine.dispose()


def test_camera_status_comes_from_the_recorders_rows(tmp_path: Path) -> None:

    engine, sessions = open_database(tmp_path / "edge.db")
    configured = [CameraSettings(name="front", record_url="rtsp://x/1"), CameraSettings(name="back", record_url="rtsp://x/2"),
                  CameraSettings(name="side", record_url="rtsp://x/3", enabled=False)]
    source = RecorderCameras(sessions, configured)
    # Before the recorder wrote anything: unknown (""), not a made-up "connecting".
    assert [(s.camera, s.state) for s in source.camera_status()] == [("front", ""), ("back", ""), ("side", "disabled")]
    sync_cameras(sessions, configured)
    now = datetime.now(UTC)
    save_statuses(sessions, [
        CameraStatus("front", CameraState.STREAMING, since=now, last_frame_at=now, fps=9.8, bitrate_bps=1.2e6),
        CameraStatus("back", CameraState.FAILED, reason="connection refused", since=now),
    ])
    by_name = {s.camera: s for s in source.camera_status()}
    assert by_name["front"].state == "streaming" and abs(by_name["front"].fps - 9.8) < 1e-6
    assert by_name["front"].last_frame_at.seconds == int(now.timestamp())
    assert (by_name["back"].state, by_name["back"].reason) == ("failed", "connection refused")
    assert by_name["side"].state == "disabled"
    engine.dispose()


def test_cameras_added_from_the_cloud_report_their_health(tmp_path: Path) -> None:
    """Once a desired config is applied its cameras are the edge's: they are the ones reported (edge.toml's
    are not), with the recorder's states, and a camera removed from the config is no longer reported."""
    engine, sessions = open_database(tmp_path / "edge.db")
    configured = [CameraSettings(name="front", record_url="rtsp://x/1")]
    sync_cameras(sessions, configured)
    source = RecorderCameras(sessions, configured)
    assert [s.camera for s in source.camera_status()] == ["front"]
    garden, shed = camera("garden", "rtsp://10.0.0.7/garden"), camera("shed", "rtsp://10.0.0.8/shed", enabled=False)
    assert apply(sessions, desired(1, garden, shed), None, DEVICE).outcome is Outcome.APPLIED
    now = datetime.now(UTC)
    save_statuses(sessions, [CameraStatus("garden", CameraState.STREAMING, since=now, last_frame_at=now, fps=10.0)])
    by_name = {s.camera: s for s in source.camera_status()}
    assert set(by_name) == {"garden", "shed"}
    assert by_name["garden"].state == "streaming" and by_name["garden"].last_frame_at.seconds == int(now.timestamp())
    assert by_name["shed"].state == "disabled"
    assert apply(sessions, desired(2, shed), None, DEVICE).outcome is Outcome.APPLIED
    assert [(s.camera, s.state) for s in source.camera_status()] == [("shed", "disabled")]
    engine.dispose()


def test_a_camera_state_change_is_sampled_early_but_not_more_than_thrice_an_interval() -> None:
    connecting, streaming = (("garden", "connecting"),), (("garden", "streaming"),)
    schedule = SampleSchedule(30.0, now=0.0)
    assert not schedule.due(connecting, 2.0)  # the first look is the baseline
    assert not schedule.due(connecting, 28.0)
    assert schedule.due(connecting, 30.0)  # the interval
    schedule.sent(connecting, 30.0)
    assert not schedule.due(streaming, 32.0)  # changed, but a sample went 2 s ago
    assert schedule.due(streaming, 40.0)  # changed: a third of the interval after the last sample
    schedule.sent(streaming, 40.0)
    assert not schedule.due(streaming, 50.0) and not schedule.due(connecting, 49.0)
    assert schedule.due(connecting, 50.0)
    schedule.sent(connecting, 50.0)
    assert schedule.due((), 60.0)  # a removed camera is a change too


def test_inference_latency_is_the_median_of_the_detectors_histogram() -> None:
    from prometheus_client import generate_latest

    metrics = AgentMetrics("edge")
    hist = metrics.histogram("detection", "inference_seconds", "x", ("model",),
                             buckets=(0.005, 0.01, 0.015, 0.02, 0.05))
    for value in [0.012] * 60 + [0.03] * 40:
        hist.labels("nanodet@1").observe(value)
    buckets = _histogram_buckets(generate_latest(metrics.registry).decode())
    median = histogram_quantile(0.5, buckets)
    assert median is not None and 0.010 < median < 0.015  # inside the bucket holding the median
    assert histogram_quantile(0.5, {0.01: 0.0, float("inf"): 0.0}) is None
