"""Recording and detection start at the keyframe the camera opens its stream with, on every connect and
reconnect, not a GOP or two later. FFmpeg's ``nobuffer`` dropped the packets read while the stream was
probed (~2 s here, the first keyframe among them), and FFmpeg gives the first packets no timestamps.
The real RTSP test camera starts each new stream at the footage's first frame."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from agents.edge.video.frames import FrameReader
from agents.edge.video.status import CameraState
from tests.conftest import FakeCamera

from .helpers import FAST, open_store, recorder, wait_for, wait_state

pytestmark = pytest.mark.slow

IDR = 5  # H.264 NAL unit type of an IDR slice


def idr_slices(data: bytes) -> list[bytes]:
    """The IDR slices of one MP4 sample (length-prefixed NAL units)."""
    units, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        units.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return [u for u in units if u and u[0] & 0x1F == IDR]


def first_idr(path: Path) -> bytes:
    """The first IDR slice of an MP4 file (the footage, or a recorded segment)."""
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size and (slices := idr_slices(bytes(packet))):
                return slices[0]
    raise AssertionError(f"no IDR in {path}")


def first_picture(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="bgr24")


def test_every_session_records_from_the_cameras_first_keyframe(tmp_path: Path, fake_camera: FakeCamera,
                                                               footage_mp4: Path) -> None:
    store = open_store(tmp_path)
    opening_keyframe = first_idr(footage_mp4)
    rec = recorder(store, fake_camera.url(), segment_seconds=2.0)
    try:
        first = wait_for(lambda: store.segments("cam1"), 30, "a first segment")[0]
        fake_camera.stop()  # an outage: the camera comes back with a new stream, from its first frame
        wait_state(rec, CameraState.FAILED, 15)  # the session's segments are indexed by then
        before = {s.path for s in store.segments("cam1")}
        fake_camera.start()
        after = wait_for(lambda: [s for s in store.segments("cam1") if s.path not in before], 30,
                         "a segment after the reconnect")[0]
    finally:
        rec.stop()
    for segment, when in ((first, "connect"), (after, "reconnect")):
        assert first_idr(store.absolute(segment.path)) == opening_keyframe, (
            f"the recording after the {when} starts a GOP or more into the camera's stream"
        )


def test_detection_sees_the_cameras_first_frame_with_a_causal_time(fake_camera: FakeCamera,
                                                                  footage_mp4: Path) -> None:
    reader = FrameReader("front", fake_camera.url(), fps=5.0, options=FAST)
    frames, yielded_at = [], []
    for frame in reader:
        frames.append(frame)
        yielded_at.append(datetime.now(UTC))
        if len(frames) == 30:  # ~6 s of stream: well past the packets buffered while opening
            reader.close()
    first = frames[0]
    assert first.keyframe and first.pts_s == 0.0
    assert np.array_equal(first.bgr(), first_picture(footage_mp4)), "detection started a GOP or more late"
    # A frame cannot be captured after it was handed over: the wall clock is anchored on the packets that
    # came in real time, not on the burst of packets buffered while the stream was opened.
    late = [(f.pts_s, (f.time - at).total_seconds()) for f, at in zip(frames, yielded_at, strict=True) if f.time > at]
    assert not late, f"frames stamped after they were read (pts s, seconds late): {late}"
    assert all(a.time <= b.time for a, b in itertools.pairwise(frames))
