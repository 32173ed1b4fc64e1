"""Cameras of the H.264 profiles and levels real ones send, decoded in headless Chromium through the edge's
live hub and a real coturn (as tests/edge/live/test_live_view.py): a Constrained Baseline sub-stream at
level 3.0 (what many cameras' sub-streams are; the edge once refused it: aiortc's own 3.1 entry took its
place in the answer) next to a High main stream, and High at two levels in one edge (the second level
of a profile was refused the same way). The clips are encoded here with libx264 and served by the real
RTSP test camera."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from agents.edge.live.hub import LiveHub
from agents.edge.live.types import CameraStreams, LiveStream, TurnServer
from tests.conftest import FakeCamera
from tests.edge.live.viewer import CHROMIUM, CHROMIUM_ARGS, Viewer
from tests.relay.coturn import Coturn

pytestmark = pytest.mark.slow

SIZE = (320, 240)
CLIP_SECONDS = 2


def encode_clip(path: Path, profile: str, level: str, seconds: int = CLIP_SECONDS) -> Path:
    """A moving bar, a keyframe every second, as libx264 encodes ``profile`` at ``level``."""
    width, height = SIZE
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # ultrafast leaves out what Main/High add (CABAC, 8x8 transforms): x264 then writes Constrained
        # Baseline whatever profile is asked; veryfast keeps them, so "high" is High.
        preset = "ultrafast" if profile == "baseline" else "veryfast"
        stream.options = {"profile": profile, "level": level, "g": "25", "bf": "0", "preset": preset}
        for i in range(seconds * 25):
            picture = np.zeros((height, width, 3), np.uint8)
            picture[:, (i * 6) % (width - 20):(i * 6) % (width - 20) + 20] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def cameras(fake_camera: FakeCamera, tmp_path: Path) -> Iterator[dict[str, FakeCamera]]:
    """The test footage (High 3.1) and two encoded clips, each served by its own RTSP test camera."""
    made = {"high-3.1": fake_camera,
            "cb-3.0": FakeCamera(encode_clip(tmp_path / "cb.mp4", "baseline", "3.0")),
            "high-4.0": FakeCamera(encode_clip(tmp_path / "high.mp4", "high", "4.0"))}
    try:
        made["cb-3.0"].start()
        made["high-4.0"].start()
        yield made
    finally:
        made["cb-3.0"].stop()
        made["high-4.0"].stop()


def test_browser_decodes_constrained_baseline_and_every_level(cameras: dict[str, FakeCamera], footage_mp4: Path,
                                                               tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    with av.open(str(footage_mp4)) as container:
        footage = container.streams.video[0].codec_context
        footage_size = (footage.width, footage.height)

    async def scenario() -> None:
        hub = LiveHub({
            # The usual pair: a High main stream and a Constrained Baseline sub-stream.
            "door": CameraStreams(main_url=cameras["high-3.1"].url(), sub_url=cameras["cb-3.0"].url()),
            "yard": CameraStreams(main_url=cameras["high-4.0"].url()),
        })
        with Coturn(tmp_path) as turn:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for n, (camera, stream, sent, size) in enumerate([("door", LiveStream.SUB, "42c01e", SIZE),
                                                                      ("door", LiveStream.MAIN, "64001f", footage_size),
                                                                      ("yard", LiveStream.MAIN, "640028", SIZE)]):
                        viewer = await Viewer.open(browser)
                        browser_creds, edge_creds = turn.mint(f"{n}-browser"), turn.mint(f"{n}-edge")
                        offer = await viewer.offer(turn.url, browser_creds.username, browser_creds.credential)
                        edge_turn = TurnServer((turn.url,), edge_creds.username, edge_creds.credential)
                        session, answer = await hub.open_session(camera, offer, edge_turn, time.time() + 60, stream)
                        reader = hub.reader(camera, stream)
                        assert reader is not None
                        # What the camera sends (its SPS, read by the edge): profile_idc and constraint flags
                        # 42c0 are Constrained Baseline (RFC 6184 table 5); 6400 High; then the level.
                        assert await reader.profile_level_id() == sent
                        await viewer.accept(answer)
                        stats = await viewer.frames_beyond(10)
                        assert (stats["width"], stats["height"]) == size
                        assert stats["codec"].startswith("video/H264"), stats["codec"]
                        await viewer.close()
                        await asyncio.wait_for(session.ended.wait(), 30)
                finally:
                    await hub.close()
                    await browser.close()

    asyncio.run(scenario())
