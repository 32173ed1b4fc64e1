"""One camera's detection pipeline: frames → motion gate → detector → camera rules → tracker → events.

Reading, gating and submitting run on the camera's own thread; results, track expiry and event writes
run on the service's event thread (:meth:`CameraPipeline.on_result`, :meth:`CameraPipeline.tick`). The
pipeline gets what it needs (the current detector for its input size, its metrics, the stop event) and nothing of the
service that runs it. The camera's rules (:mod:`~agents.edge.detection.camera_rules`) can be replaced
while it runs (:attr:`CameraPipeline.rules`); the next result uses them.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.edge.config import CameraSettings
from agents.edge.detection.camera_rules import CameraRules
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.metrics import FRAME_OUTCOMES, DetectorMetrics
from agents.edge.detection.motion import MotionGate
from agents.edge.detection.picture import PictureWriter
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventRow
from agents.edge.models.families import Family
from agents.edge.tracking.tracker import Tracker
from agents.edge.video.decode_path import DECODE_PATHS, DecodeChoice, select_decode
from agents.edge.video.frames import FrameReader
from agents.edge.video.ingest import StreamOptions
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.detector")

# Longest wait for a submitted frame's result before its camera's tracks may end by time again.
RESULT_WAIT_S = 60.0


@dataclass
class Job:
    """What travels with a frame through the detector."""

    camera: str
    at: float  # capture time, unix seconds
    frame: np.ndarray


class CameraPipeline:
    """Reading, motion gating and submission for one camera (runs in its own thread), and what its
    results do to its tracks and events (on the event thread)."""

    def __init__(self, camera: CameraSettings, settings: DetectionSettings, events: EventManager,
                 detector: Callable[[int], Detector | None], metrics: DetectorMetrics, stopping: threading.Event,
                 stream: StreamOptions, rules: CameraRules | None = None, picture: PictureWriter | None = None) -> None:
        self.camera = camera
        self.picture = picture  # the camera's latest picture, from frames decoded here anyway
        self.rules = rules or CameraRules()  # replaced whole by the service's hot reload (one assignment)
        events.zones_at = lambda box: self.rules.zones_at(box)  # the current rules' zones, on the event thread
        events.severity_of = lambda label, zones: self.rules.severity(label, zones)
        events.recording_offset = lambda: self._clock[1] - self._clock[0]  # the box's clock less the camera's
        self.settings = settings
        self.events = events
        self._threshold_of: Callable[[str], float] = settings.threshold_of  # set_model: the model's family too
        self._detector = detector
        self.metrics = metrics
        self.stopping = stopping
        self.stream = stream
        self.gate = MotionGate(settings.motion)
        self.tracker = Tracker(settings.tracking)
        self.last_result_at = 0.0
        self.last_submitted_at = 0.0  # capture time of the newest frame handed to the detector
        self.last_frame_at = 0.0  # capture time of the newest frame read (set on the camera's thread)
        self._clock = (0.0, 0.0)  # the camera clock's anchor: (newest capture time, this box's time when read)
        self._frame_read: tuple[float, float | None] = (0.0, None)  # the newest frame: (capture time, read at)
        self.result_lag = 0.0  # capture → result handed over, of the newest result
        self.reader: FrameReader | None = None
        self.failure: Exception | None = None  # what ended this camera's thread, if anything did
        self._closed = threading.Event()  # this camera alone stops (removed or changed by a config)
        self._reader_lock = threading.Lock()  # a close never misses a reader being made
        # Label sets made up front: every outcome shows (as 0) from the start, and no lookup per frame.
        self.outcomes = {o: metrics.frames.labels(camera.name, o) for o in FRAME_OUTCOMES}
        self.open_gauge = metrics.events_open.labels(camera.name)
        self._detections: dict[str, Any] = {}  # label → its counter, made on first use
        self.thread = threading.Thread(target=self._run, name=f"detect-{camera.name}", daemon=True)

    # -- the camera's thread ----------------------------------------------------------------------
    def start(self) -> None:
        """Start reading the camera (once; a later call does nothing)."""
        if self.thread.ident is None:
            self.thread.start()

    def close(self) -> None:
        """Stop reading: the camera's thread ends with the frame in hand (see :meth:`join`)."""
        with self._reader_lock:
            self._closed.set()
            reader = self.reader
        if reader is not None:
            reader.close()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)

    def _run(self) -> None:
        url = self.camera.detect_url or self.camera.record_url
        try:  # making the reader too (it looks for render nodes): a failure ends the agent, not just this thread
            with self._reader_lock:
                if self._closed.is_set():
                    return
                self.reader = FrameReader(self.camera.name, url, fps=self.settings.fps, options=self.stream,
                                          decode=select_decode(self.settings.decode), on_decode=self._decode_path)
            for frame in self.reader:
                if self.stopping.is_set() or self._closed.is_set():
                    break
                image, at = frame.bgr(), frame.time.timestamp()
                if self.picture is not None:
                    self.picture.offer(image, at)
                self.process(image, at, read_at=time.time())
        except Exception as exc:
            self.failure = exc
            log.exception("camera_detection_failed", camera=self.camera.name, error=str(exc))

    def _decode_path(self, choice: DecodeChoice) -> None:
        """``decode_path``: 1 for the path the camera's frames are decoded by now, 0 for the others."""
        for path in DECODE_PATHS:
            self.metrics.decode_path.labels(self.camera.name, path).set(1 if path == choice.path else 0)

    def forget_decode_path(self) -> None:
        """The camera is no longer watched: its ``decode_path`` series go (a gauge would go on saying 1)."""
        for path in DECODE_PATHS:
            with contextlib.suppress(KeyError):  # never set: the reader had not opened the stream
                self.metrics.decode_path.remove(self.camera.name, path)

    def process(self, image: np.ndarray, at: float, block: bool = False, read_at: float | None = None) -> str:
        """Gate one frame (BGR, captured at unix time ``at`` by the camera's clock, read at ``read_at`` by this
        box's; None: the next tick's time) and submit it if it is worth it; returns the outcome counted in
        ``frames_total``. Without ``block`` a frame that finds every infer request busy is dropped (the next one
        is newer); the benchmark blocks to measure capacity."""
        self._frame_read = (at, read_at)  # one assignment: the event thread reads the pair
        self.last_frame_at = at
        infer, reason, _ = self.gate.decide(image, at, tracking=self.tracker.active)
        if not infer:
            outcome = "skipped_motion"
        else:
            detector = self._detector(self.rules.input_size)  # the model compiled at the camera's input size
            if detector is None or not detector.submit(image, Job(self.camera.name, at, image), block=block,
                                                                 tiles=self.rules.tiles):
                outcome = "skipped_busy"
            else:
                self.gate.inferred(at)
                self.last_submitted_at = at
                outcome = f"inferred_{reason}"
        self.outcomes[outcome].inc()
        return outcome

    def set_model(self, ref: str, family: Family | None = None) -> None:
        """Events opened from now on name this model; its family's default thresholds apply where the config
        sets none."""
        self.events.model_ref = ref
        self._threshold_of = functools.partial(self.settings.threshold_of, family=family)

    # -- on the event thread ---------------------------------------------------------------------
    def on_result(self, job: Job, result: InferenceResult, arrived_at: float | None = None) -> None:
        """The detector's result for ``job``, handed over at unix time ``arrived_at`` (now if not given)."""
        if job.at < self.last_result_at:
            return  # an older frame finished after a newer one: the tracker has moved on
        self.last_result_at = job.at
        arrived = time.time() if arrived_at is None else arrived_at
        # On the camera's clock: this box's may be ahead or behind it.
        self.result_lag = min(max(0.0, self._frames_clock(arrived) - job.at), RESULT_WAIT_S)
        m = self.metrics
        detections = self.rules.apply(result.detections, self.settings.default_labels, self._threshold_of)
        for det in detections:
            counter = self._detections.get(det.label)
            if counter is None:
                counter = self._detections[det.label] = m.detections.labels(self.camera.name, det.label)
            counter.inc()
        update = self.tracker.update(detections, job.at)
        split = self.events.handle(update, job.frame, job.at)
        for label in [track.label for track in update.confirmed] + split:
            m.events_opened.labels(self.camera.name, label).inc()
        for label in [track.label for track in update.ended] + split:
            m.events_closed.labels(self.camera.name, label).inc()
        self.open_gauge.set(len(self.events.open))

    def tick(self, now: float) -> None:
        """Tracks end by time even when no frame is analysed (e.g. the camera went away); clips whose
        post-roll is recorded are assembled."""
        # Tracks are timed by the camera's clock, which may be ahead of this box's or behind it: they end by
        # it too. On a slow device (seconds per inference) tracks ended by the clock alone would never gather
        # their confirming hits. So a frame still being inferred decides for itself (the camera clock holds at
        # the newest result meanwhile, see _camera_clock), and time is counted as far as the detector has
        # seen it: the camera's clock less the newest result's delay.
        camera_now = self._camera_clock(now)
        seen_until = camera_now - self.result_lag
        if self.tracker.active and seen_until - self.last_result_at > self.tracker.settings.end_after_s:
            self.events.end(self.tracker.expire(seen_until).ended, seen_until)
        self.events.tick(now, camera_now=camera_now)

    def _frames_clock(self, now: float) -> float:
        """The camera's clock at this box's ``now``: the newest frame's capture time (frames come on a still
        scene too), moved on by this box's time since that frame was read (or a tick first saw it) when frames
        stop coming. The anchor also tells how far this box's clock is ahead of the camera's
        (:attr:`EventManager.recording_offset`)."""
        at, read_at = self._frame_read
        newest = max(at, self.last_result_at)
        if newest != self._clock[0]:
            self._clock = (newest, now if read_at is None or newest != at else min(read_at, now))
        at, seen = self._clock
        return at + max(0.0, now - seen)

    def _camera_clock(self, now: float) -> float:
        """The camera's clock at the event thread's ``now``, which tracks and review items are timed by: the
        camera's clock may differ from this box's, and footage may be replayed faster or slower
        (:meth:`_frames_clock`); while a frame is being inferred it stays at the newest result (that frame's
        result decides)."""
        clock = self._frames_clock(now)
        if self.last_submitted_at > self.last_result_at and clock - self.last_submitted_at < RESULT_WAIT_S:
            clock = min(clock, self.last_result_at)
        return clock

    def take_unsaved(self) -> list[EventRow]:
        """The event rows changed since the last call; the caller stores them (with other cameras')."""
        return self.events.take_unsaved()

    def shutdown(self, now: float) -> None:
        """The service is stopping: close what is open, try every pending clip once."""
        self.events.shutdown(self.tracker.flush(), now)
