"""The recording service (``guardian-edge recorder run``'s agent) with the real test camera: cameras and their
status in the edge database, segments recorded, per-camera metrics served."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from agents.edge.config import EdgeSettings
from agents.edge.video.cameras import list_cameras
from agents.edge.video.segments import VideoStore
from agents.edge.video.service import RecorderAgent
from guardian.runtime.service import serve
from tests.conftest import free_port

pytestmark = pytest.mark.slow


def test_recorder_agent_records_and_reports(tmp_path, fake_camera):
    port = free_port()
    settings = EdgeSettings(
        storage={"data_dir": tmp_path / "data"},
        metrics={"port": port},
        recording={"segment_seconds": 4, "stall_timeout_s": 3, "open_timeout_s": 6},
        retention={"min_free_bytes": 0, "min_free_percent": 0, "interval_s": 1},
        cameras=[
            {"name": "front", "record_url": fake_camera.url()},
            {"name": "gone", "record_url": f"rtsp://user:hunter2@127.0.0.1:{free_port()}/cam"},
        ],
    )
    agent = RecorderAgent(settings)
    scraped: dict[str, str] = {}
    live: dict = {}  # the camera rows while running

    async def run() -> int:
        async def stop_later() -> None:
            await asyncio.sleep(14)
            scraped["metrics"] = (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")).text
            assert agent.store is not None  # opened at start-up, 14 s ago
            live.update({c.name: c for c in await asyncio.to_thread(list_cameras, agent.store.sessions)})
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)

        stopper = asyncio.create_task(stop_later())
        code = await serve(agent)
        await stopper
        return code

    assert asyncio.run(run()) == 0
    store = VideoStore.open(tmp_path / "data", tmp_path / "data" / "edge.db")
    cams = live
    assert cams["front"].state == "streaming" and cams["front"].fps > 5 and cams["front"].bitrate_bps > 0
    assert cams["front"].codec == "h264" and cams["front"].last_frame_at is not None
    assert cams["gone"].state == "failed"
    assert {c.state for c in list_cameras(store.sessions)} == {"stopped"}
    assert cams["gone"].failure == "unreachable" and "refused" in cams["gone"].reason
    assert "hunter2" not in (cams["gone"].reason or "")
    assert len(store.segments("front")) >= 2
    assert all(store.absolute(s.path).is_file() for s in store.segments("front"))
    text = scraped["metrics"]
    for name in ("guardian_edge_video_packets_total", "guardian_edge_video_received_bytes_total",
                 "guardian_edge_video_reconnects_total", "guardian_edge_video_segment_write_seconds_bucket",
                 "guardian_edge_video_recording_lag_seconds", "guardian_edge_video_disk_bytes"):
        assert f'{name}{{camera="front"' in text, name
    packets = [line for line in text.splitlines() if line.startswith('guardian_edge_video_packets_total{camera="front"}')]
    assert float(packets[0].split()[-1]) > 50
