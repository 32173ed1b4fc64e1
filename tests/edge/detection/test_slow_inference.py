"""A device that needs seconds per inference (an emulated CPU, an overloaded Mini PC) still makes events:
the camera's tracks are not ended by time while a frame of it is being inferred, so a person seen in
three slow, consecutive inferences is confirmed. The detector is a stand-in that holds each frame
until the test hands its result back (the timing is what is under test, not OpenVINO); the pipeline,
tracker, event manager and store are the real ones."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.pipeline import RESULT_WAIT_S, CameraPipeline, Job
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager
from agents.edge.events.media import VideoMedia
from agents.edge.events.store import EventStore
from agents.edge.tracking.types import Detection
from agents.edge.video.ingest import StreamOptions
from guardian.runtime.metrics import AgentMetrics

INFERENCE_S = 6.0  # longer than the tracker's end_after_s (4 s by default)
T0 = 1_780_000_000.0


class HeldDetector:
    """Accepts one frame at a time and keeps it until the test returns its result."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def submit(self, frame: np.ndarray, userdata: Any, block: bool = False, tiles: Any = None) -> bool:
        self.jobs.append(userdata)
        return True


def _pipeline(tmp_path) -> tuple[CameraPipeline, HeldDetector]:
    settings = DetectionSettings()
    _, sessions = open_database(tmp_path / "edge.db")
    events = EventManager("front", EventStore(sessions), VideoMedia(sessions, tmp_path), tmp_path, "m@1",
                          settings.events)
    detector = HeldDetector()
    pipeline = CameraPipeline(CameraSettings(name="front", record_url="rtsp://127.0.0.1:1/none"), settings, events,
                              lambda _size: detector,  # type: ignore[arg-type,return-value]
                              DetectorMetrics(AgentMetrics("edge")), threading.Event(), StreamOptions())
    return pipeline, detector


def _walk(pipeline: CameraPipeline, detector: HeldDetector, inferences: int, result_delay_s: float) -> None:
    """``inferences`` frames, each inferred for ``INFERENCE_S``; the event thread ticks every half second."""
    rng = np.random.default_rng(7)
    at = T0
    for i in range(inferences):
        frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        outcome = pipeline.process(frame, at, read_at=at)  # this box's clock and the camera's agree here
        assert outcome.startswith("inferred_"), outcome
        job = detector.jobs[-1]
        for k in range(1, int(result_delay_s * 2)):
            pipeline.tick(at + k / 2)
        x = 0.1 + 0.02 * i  # a person walking slowly to the right
        person = Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8))
        pipeline.on_result(job, InferenceResult([person], result_delay_s, job), at + result_delay_s)
        pipeline.tick(at + result_delay_s)
        at += result_delay_s


def test_a_person_is_confirmed_when_each_inference_takes_longer_than_a_track_may_stay_unseen(tmp_path) -> None:
    pipeline, detector = _pipeline(tmp_path)
    assert pipeline.tracker.settings.end_after_s < INFERENCE_S
    _walk(pipeline, detector, inferences=4, result_delay_s=INFERENCE_S)
    assert len(pipeline.events.open) == 1, "three slow, consecutive sightings make one event"


def test_a_result_that_never_comes_stops_holding_the_tracks(tmp_path) -> None:
    pipeline, detector = _pipeline(tmp_path)
    _walk(pipeline, detector, inferences=3, result_delay_s=1.0)
    assert len(pipeline.events.open) == 1
    last = detector.jobs[-1].at
    # One more frame is submitted and its result is lost (say, the model was swapped under it).
    pipeline.process(np.zeros((120, 160, 3), dtype=np.uint8), last + 1.0, read_at=last + 1.0)
    pipeline.tick(last + 1.0 + RESULT_WAIT_S / 2)
    assert len(pipeline.events.open) == 1, "still waiting for the frame in flight"
    pipeline.tick(last + 1.0 + RESULT_WAIT_S + 1)
    assert len(pipeline.events.open) == 0, "ended once the wait ran out"
