"""Recording by remux, clips and frames against the real RTSP test camera and real footage."""

from __future__ import annotations

import hashlib
import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from PIL import Image

from agents.edge.video.clips import assemble_clip
from agents.edge.video.frames import FrameReader
from agents.edge.video.snapshots import write_snapshot
from agents.edge.video.status import CameraState
from tests.conftest import FakeCamera

from .helpers import FAST, recorder, wait_state

pytestmark = pytest.mark.slow

SEGMENT_S = 4.0
GOP_S = 2.0  # the footage has a keyframe every 20 frames at 10 fps


def nal_units(data: bytes, length_prefixed: bool) -> list[bytes]:
    """Split H.264 access-unit bytes into NAL units (MP4 length-prefixed, or Annex-B start codes)."""
    units = []
    if length_prefixed:
        i = 0
        while i + 4 <= len(data):
            n = int.from_bytes(data[i:i + 4], "big")
            units.append(data[i + 4:i + 4 + n])
            i += 4 + n
        return units
    for chunk in data.split(b"\x00\x00\x01"):
        chunk = chunk.rstrip(b"\x00")
        if chunk:
            units.append(chunk)
    return units


def idr_hashes(path: Path) -> set[str]:
    """Hashes of the IDR slices (NAL type 5) in an MP4: identical bytes only if never re-encoded."""
    out = set()
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.is_keyframe and packet.size:
                for nal in nal_units(bytes(packet), length_prefixed=True):
                    if nal and nal[0] & 0x1F == 5:
                        out.add(hashlib.sha1(nal).hexdigest())
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory, footage_mp4):
    """~24 s of recording of the test camera into a fresh store; yields (store, times, camera)."""
    from agents.edge.video.segments import VideoStore

    camera = FakeCamera(footage_mp4)
    camera.start()
    root = tmp_path_factory.mktemp("rec") / "data"
    store = VideoStore.open(root, root / "edge.db")
    rec = recorder(store, camera.url(), name="front", segment_seconds=SEGMENT_S)
    try:
        wait_state(rec, CameraState.STREAMING, 20)
        streaming_at = time.time()
        time.sleep(24)
        stopped_at = time.time()
    finally:
        rec.stop()
    yield store, streaming_at, stopped_at, camera
    camera.stop()


def test_segments_are_valid_copies_of_the_source(recording, footage_mp4):
    store, _, _, _ = recording
    segments = store.segments("front")
    assert len(segments) >= 4
    with av.open(str(footage_mp4)) as src:
        s = src.streams.video[0].codec_context
        assert s.format is not None
        source = (s.name, s.profile, s.width, s.height, s.format.name)
    source_idr = idr_hashes(footage_mp4)
    for seg in segments:
        path = store.absolute(seg.path)
        assert path.is_file() and path.stat().st_size == seg.size_bytes
        # Organised by camera / UTC date / UTC hour of the segment's start.
        start = datetime.fromtimestamp(seg.start_ts, UTC)
        assert path.parent == store.recordings_dir / "front" / f"{start:%Y-%m-%d}" / f"{start:%H}"
        with av.open(str(path)) as container:
            c = container.streams.video[0].codec_context
            assert c.format is not None
            assert (c.name, c.profile, c.width, c.height, c.format.name) == source
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == seg.frames
        assert seg.codec.startswith("h264")
        # Every keyframe's picture data is byte-identical to one in the source file: no re-encode.
        idr = idr_hashes(path)
        assert idr and idr <= source_idr
    for earlier, later in itertools.pairwise(segments):
        assert later.start_ts >= earlier.end_ts - 0.25  # no overlap beyond timestamp jitter


def test_recorded_duration_matches_wall_time(recording):
    store, streaming_at, stopped_at, _ = recording
    segments = store.segments("front")
    recorded = sum(s.duration_s for s in segments)
    assert abs(recorded - (stopped_at - streaming_at)) <= SEGMENT_S
    # Segments are the configured length (cut at the first keyframe after it), except the last.
    for seg in segments[:-1]:
        assert SEGMENT_S - 0.01 <= seg.duration_s <= SEGMENT_S + GOP_S + 0.01


def test_clip_across_a_segment_boundary(recording, tmp_path):
    store, _, _, _ = recording
    segments = store.segments("front")
    boundary = segments[1].end_ts
    start, end = boundary - 2.5, boundary + 3.0
    clip = assemble_clip(
        store, "front", datetime.fromtimestamp(start + 1.0, UTC), datetime.fromtimestamp(end - 1.0, UTC),
        tmp_path / "clip.mp4", pre_roll=1.0, post_roll=1.0,
    )
    expected = end - start
    assert expected - GOP_S <= clip.duration_s <= expected + GOP_S  # ± one GOP
    assert clip.segments == 2
    assert clip.codec == "h264" and (clip.width, clip.height) == (768, 576)
    # It plays: every frame decodes, and the file starts with its index (faststart).
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        assert decoded[0].key_frame
    assert len(decoded) == clip.frames
    assert abs(len(decoded) / 10.0 - clip.duration_s) < 0.2
    head = clip.path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert [c.path for c in store.clips()] == [store.relative(clip.path)]


def test_frames_at_a_rate_and_snapshots(fake_camera, tmp_path):
    reader = FrameReader("front", fake_camera.url(), fps=2.0, options=FAST)
    frames = []
    for frame in reader:
        frames.append(frame)
        if len(frames) == 6:
            reader.close()
    assert len(frames) == 6
    gaps = [b.pts_s - a.pts_s for a, b in itertools.pairwise(frames)]
    assert all(0.45 <= g <= 0.65 for g in gaps), gaps  # 2 per second of stream time
    image = frames[-1].bgr()
    assert image.shape == (576, 768, 3)
    assert abs((frames[-1].time - datetime.now(UTC)).total_seconds()) < 10
    info = write_snapshot(frames[-1], tmp_path / "snap.jpg", tmp_path / "thumb.jpg")
    assert info.thumb_path is not None  # a thumbnail was asked for
    with Image.open(info.path) as snap, Image.open(info.thumb_path) as thumb:
        assert snap.format == "JPEG" and snap.size == (768, 576)
        assert thumb.format == "JPEG" and thumb.size == (320, 240)
    # A numpy BGR frame with a box: the thumbnail shows the region around the box.
    info = write_snapshot(image, tmp_path / "s2.jpg", tmp_path / "t2.jpg", box=(100, 100, 200, 300))
    assert info.width == 768 and info.thumb_width is not None and info.thumb_width <= 320


def test_low_rate_decodes_keyframes_only(fake_camera):
    reader = FrameReader("front", fake_camera.url(), fps=0.4, options=FAST)
    got = []
    for frame in reader:
        got.append(frame)
        if len(got) == 4:
            reader.close()
    # At 0.4 fps (one per 2.5 s) with a keyframe every 2 s, only keyframes are decoded.
    assert all(f.keyframe for f in got[1:])
    assert reader.decoded_frames <= 20 + 2 * len(got) + 2
