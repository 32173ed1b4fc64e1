"""A camera nobody watched: the first viewer starts at the keyframe the camera opens its stream with, not
at the next one a GOP later (FFmpeg hands the first packet over only without ``nobuffer``, and without a
timestamp). The real RTSP test camera starts each new stream at the footage's first frame."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import pytest

from agents.edge.live.h264 import NAL_IDR, nal_units
from agents.edge.live.reader import CameraReader
from agents.edge.video.ingest import StreamOptions
from tests.conftest import FakeCamera

pytestmark = pytest.mark.slow


def first_idr(footage: Path) -> bytes:
    """The footage's first IDR slice, as the camera sends it (Annex B, start code removed)."""
    with av.open(str(footage)) as container:
        stream = container.streams.video[0]
        to_annex_b = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in container.demux(stream):
            for unit in nal_units(b"".join(bytes(p) for p in to_annex_b.filter(packet))):
                if unit[0] & 0x1F == NAL_IDR:
                    return unit
    raise AssertionError("no IDR in the footage")


def test_first_viewer_starts_at_the_cameras_first_keyframe(fake_camera: FakeCamera, footage_mp4: Path) -> None:
    async def first_packets() -> list[av.Packet]:
        reader = CameraReader("front", fake_camera.url(), StreamOptions())
        track = reader.subscribe()
        try:
            return [await asyncio.wait_for(track.recv(), 30) for _ in range(3)]
        finally:
            await reader.close()

    first, *rest = asyncio.run(first_packets())
    assert first.is_keyframe
    starts_at_the_first_keyframe = first_idr(footage_mp4) in bytes(first)
    assert starts_at_the_first_keyframe, f"the viewer started at pts {first.pts}, a GOP late"
    # aiortc turns the timestamp into the RTP one: the first frame's comes first.
    assert first.pts is not None and all(p.pts is not None and p.pts > first.pts for p in rest)
