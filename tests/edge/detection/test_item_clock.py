"""Review items are timed by the camera's clock (issue #20): an item ends once ``GAP_S`` of *camera* time has
passed without activity, whatever this box's clock says — a camera whose clock is behind the box's, or footage
replayed faster than real time. The real pipeline (motion gate, tracker, event manager, store) with a stand-in
detector that returns each frame's result at once (what is under test is the clock, not OpenVINO); the event
thread's ``tick`` gets the box's clock, as in the service."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.pipeline import CameraPipeline, Job
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import GAP_S
from agents.edge.events.store import EventStore
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.types import Detection
from agents.edge.video.ingest import StreamOptions
from guardian.runtime.metrics import AgentMetrics

T0 = 1_780_000_000.0
FPS = 5


class ImmediateDetector:
    """Takes every frame; the test hands each result back at once."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def submit(self, frame: np.ndarray, userdata: Any, block: bool = False, tiles: Any = None) -> bool:
        self.jobs.append(userdata)
        return True


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail) -> None:
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


class Told:
    """The items the event manager tells of, each with the camera time (seconds from the first frame) of the
    frame last read then."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int, float]] = []  # phase, item id, events, camera time
        self.camera_at = 0.0

    def event_changed(self, phase, row, snapshot) -> None:
        pass

    def item_changed(self, phase, camera, item) -> None:
        self.items.append((phase, item.id, len(item.event_ids), self.camera_at))


def _run(tmp_path, walkers: list[tuple[float, float]], seconds: float, camera_start: float, rate: float = 1.0) -> Told:
    """``seconds`` of camera time: people crossing during ``walkers`` ([start, end) in camera seconds), a still
    scene otherwise. Frame ``i`` is read when the box's clock says ``T0 + i / FPS`` and is stamped
    ``camera_start + rate * i / FPS`` by the camera (``rate``: the footage's speed)."""
    settings = DetectionSettings(tracking=TrackingSection(confirm_hits=2, end_after_s=1.0))
    _, sessions = open_database(tmp_path / "edge.db")
    events = EventManager("porch", EventStore(sessions), NoMedia(), tmp_path, "m@1", settings.events)
    events.observer = told = Told()
    detector = ImmediateDetector()
    pipeline = CameraPipeline(CameraSettings(name="porch", record_url="rtsp://127.0.0.1:1/none"), settings, events,
                              lambda _size: detector,  # type: ignore[arg-type,return-value]
                              DetectorMetrics(AgentMetrics("edge")), threading.Event(), StreamOptions())
    i = 0
    while (t := rate * i / FPS) < seconds:
        now, at = T0 + i / FPS, camera_start + t
        told.camera_at = t
        frame = np.full((120, 160, 3), 90, dtype=np.uint8)
        people = []
        for start, end in walkers:
            if start <= t < end:
                x = 0.1 + 0.1 * (t - start)
                people.append(Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8)))
                frame[36:96, int(x * 160):int(x * 160) + 16] = 250  # what the motion gate sees move
        jobs = len(detector.jobs)
        pipeline.process(frame, at)
        if len(detector.jobs) > jobs:
            job = detector.jobs[-1]
            pipeline.on_result(job, InferenceResult(people, 0.05, job), now)
        pipeline.tick(now)
        i += 1
    return told


def test_a_camera_clock_behind_the_box_does_not_end_an_item_early(tmp_path) -> None:
    # The camera's clock is a minute behind the box's (no NTP on the camera).
    told = _run(tmp_path, walkers=[(0.0, 3.0), (6.0, 9.0)], seconds=20.0, camera_start=T0 - 60)
    # The second walker came 3 s of camera time after the first left: one item, ended 5 s after the second.
    assert [(phase, events) for phase, _, events, _ in told.items if phase != "update"] == [("new", 1), ("end", 2)]
    (ended,) = [at for phase, _, _, at in told.items if phase == "end"]
    assert 9.0 + GAP_S <= ended <= 9.0 + GAP_S + 1.0


def test_footage_replayed_faster_ends_its_item_after_the_gap_in_camera_time(tmp_path) -> None:
    # Replayed at twice its speed: 0.4 s of camera time per frame of the box's 5 frames/s.
    told = _run(tmp_path, walkers=[(0.0, 3.0)], seconds=30.0, camera_start=T0, rate=2.0)
    assert [phase for phase, _, _, _ in told.items if phase != "update"] == ["new", "end"]
    (ended,) = [at for phase, _, _, at in told.items if phase == "end"]
    assert 3.0 + GAP_S <= ended <= 3.0 + GAP_S + 1.5
