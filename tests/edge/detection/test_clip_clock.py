"""A camera whose clock is ahead of this box's or behind it (issue #20): tracks end by the camera's clock, and an
event's clip is cut from the recording, which the recorder stamps by this box's clock, with its pre- and
post-roll, and neither given up nor kept waiting. The real pipeline (motion gate, tracker, event manager, store),
the real recorder's segment writer fed the test footage as it would arrive live, and the real clip assembly; a
stand-in detector returns each frame's result at once (what is under test is the clocks, not OpenVINO). Frames
are read, results handled and the event thread ticks at this box's time, as in the service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.pipeline import CameraPipeline
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager, clip_wait_s
from agents.edge.events.media import VideoMedia
from agents.edge.events.store import EventStore
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.types import Detection
from agents.edge.video.ingest import StreamOptions
from agents.edge.video.recording import RecordingOptions, SegmentWriter
from agents.edge.video.segments import VideoStore
from guardian.runtime.metrics import AgentMetrics
from tests.edge.detection.test_item_clock import ImmediateDetector

B0 = 1_780_000_000.0  # this box's clock when the test starts
FPS = 5
SEGMENT_S = 4.0
WALK = (10.0, 16.0)  # a person crosses from 10 s to 16 s (box time from B0)


class Recording:
    """The recorder's segment writer fed the footage's packets as they arrive live from ``B0`` (stamped by this
    box's clock, as the recorder does), up to a time."""

    def __init__(self, footage: Path, store: VideoStore) -> None:
        self.container = av.open(str(footage))
        self.stream = self.container.streams.video[0]
        self.writer = SegmentWriter("porch", store, RecordingOptions(segment_seconds=SEGMENT_S))
        self.writer.begin(self.stream)
        self.packets: Iterator[av.Packet] = (p for p in self.container.demux(self.stream) if p.size)
        self.held: av.Packet | None = None

    def until(self, now: float) -> None:
        tb = self.stream.time_base
        assert tb is not None
        while True:
            packet = self.held or next(self.packets)
            assert packet.pts is not None
            arrival = B0 + float(packet.pts * tb) + 0.05
            if arrival > now:
                self.held = packet
                return
            self.held = None
            self.writer.write(packet, arrival)

    def close(self) -> None:
        self.container.close()


def _run(tmp_path: Path, footage: Path, camera_offset: float, seconds: float,
         camera_away_at: float | None = None) -> tuple[EventManager, VideoStore]:
    """``seconds`` of this box's time: frames every 1/FPS s, stamped by a camera whose clock is ``camera_offset``
    seconds ahead of the box's (negative: behind), showing a person during ``WALK``; no frames at all from
    ``camera_away_at`` (the camera went away). The footage is recorded meanwhile."""
    settings = DetectionSettings(tracking=TrackingSection(confirm_hits=2, end_after_s=1.0))
    _, sessions = open_database(tmp_path / "edge.db")
    store = VideoStore(tmp_path, sessions)
    events = EventManager("porch", EventStore(sessions), VideoMedia(sessions, tmp_path), tmp_path, "m@1",
                          settings.events, clip_wait_s=clip_wait_s(SEGMENT_S))
    detector = ImmediateDetector()
    pipeline = CameraPipeline(CameraSettings(name="porch", record_url="rtsp://127.0.0.1:1/none"), settings, events,
                              lambda _size: detector,  # type: ignore[arg-type,return-value]
                              DetectorMetrics(AgentMetrics("edge")), threading.Event(), StreamOptions())
    recording = Recording(footage, store)
    try:
        for i in range(int(seconds * FPS)):
            t = i / FPS
            now = B0 + t
            recording.until(now)
            if camera_away_at is None or t < camera_away_at:
                frame = np.full((120, 160, 3), 90, dtype=np.uint8)
                people = []
                if WALK[0] <= t < WALK[1]:
                    x = 0.1 + 0.1 * (t - WALK[0])
                    people.append(Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8)))
                    frame[36:96, int(x * 160):int(x * 160) + 16] = 250  # what the motion gate sees move
                jobs = len(detector.jobs)
                pipeline.process(frame, now + camera_offset, read_at=now)
                if len(detector.jobs) > jobs:
                    job = detector.jobs[-1]
                    pipeline.on_result(job, InferenceResult(people, 0.05, job), now)
            pipeline.tick(now)
    finally:
        recording.close()
    return events, store


@pytest.mark.parametrize("camera_offset", [-60.0, 60.0], ids=["camera-behind", "camera-ahead"])
def test_the_clip_is_cut_from_the_recording_with_its_rolls_whatever_the_camera_clock(tmp_path, footage_mp4,
                                                                                      camera_offset) -> None:
    # 45 s: the post-roll's segment is indexed at about 24 s; the clip's last chance would be at 20.8 + 13 s.
    events, store = _run(tmp_path, footage_mp4, camera_offset, seconds=45.0)
    assert (events.counts.opened, events.counts.clips, events.counts.clip_failures) == (1, 1, 0)
    assert not events.pending_clips
    (clip,) = store.clips()
    pre, post = events.settings.pre_roll_s, events.settings.post_roll_s
    seen_from, seen_until = WALK[0], WALK[1] - 1 / FPS  # the person's first and last frame, box time
    # Cut at keyframes (every 2 s in the footage): each end within half a GOP of the wanted one.
    assert abs(clip.start_ts - (B0 + seen_from - pre)) <= 1.1
    assert abs(clip.end_ts - (B0 + seen_until + post)) <= 1.1


@pytest.mark.parametrize("camera_offset", [-120.0, 60.0], ids=["camera-behind", "camera-ahead"])
def test_tracks_end_by_the_camera_clock_neither_dropped_while_seen_nor_kept_once_gone(tmp_path, footage_mp4,
                                                                                     camera_offset) -> None:
    # The camera goes away while the person is in sight: no frame after 13 s.
    events, _ = _run(tmp_path, footage_mp4, camera_offset, seconds=20.0, camera_away_at=13.0)
    rows = EventStore(events.store.sessions).query(camera="porch")
    assert [(row.label, row.ended) for row in rows] == [("person", True)], "one event, not dropped while seen"
    (row,) = rows
    # Seen from 10 s to 12.8 s (camera time): ended by the tracks' expiry, at its last sighting.
    assert row.start_at.timestamp() == pytest.approx(B0 + camera_offset + WALK[0])
    assert row.end_at is not None and row.end_at.timestamp() == pytest.approx(B0 + camera_offset + 12.8)
    assert not events.open
