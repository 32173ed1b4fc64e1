"""``guardian-edge run-detector``: the detection service, a process of its own.

It shares nothing with the recorder but the database file (WAL) and the recordings on disk, so a crash
or hang here never stops recording, and systemd restarts it on its own. Per camera a thread reads decoded
frames (:class:`agents.edge.video.frames.FrameReader` on the detect URL), gates them by motion and
submits the survivors to the shared :class:`Detector` (asynchronous infer requests, so cameras overlap on
the device; decoding, thresholds and NMS run inside the model); results come back on OpenVINO's callback
threads and are queued to one event thread, which runs the per-camera tracker and event manager
(database writes stay on one thread). The event thread takes the results in passes — whatever has queued
up, at most :data:`MAX_PASS` — and stores what the passes changed in one transaction at most every
:data:`WRITE_INTERVAL_S` (a transaction costs ~0.5 ms of CPU however little it holds; at capacity that was
a pass or two per inference). A crash loses at most that much of the events' newest state, next to the
open tracks it loses anyway; a stop stores everything.

The active model is polled in the store; a new activation is validated and swapped in without a restart.
If validation fails, the running model stays and the failure is logged and counted.

Without a usable model (an empty store, a corrupt file) the service still starts: it tells systemd it is
ready with a status saying what is missing (``systemctl status`` shows it), keeps polling the store, and
starts detecting as soon as a model is there — no restart loop, no failed unit to restart by hand, and
recording (another service) is never affected.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.edge.config import CameraSettings, EdgeSettings
from agents.edge.db import open_database
from agents.edge.detection.detector import Detector, FilterSettings, InferenceResult
from agents.edge.detection.motion import MotionGate, MotionSettings
from agents.edge.events.manager import EventManager, EventMedia, EventSettings
from agents.edge.events.store import EventStore
from agents.edge.models.errors import ModelError
from agents.edge.models.store import ModelStore, StoredModel
from agents.edge.tracking.tracker import Tracker, TrackerSettings
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.detector")

FRAME_OUTCOMES = ("skipped_motion", "skipped_busy", "inferred_warmup", "inferred_motion", "inferred_tracking",
                  "inferred_periodic")
MAX_PASS = 32  # results the event thread takes in one pass
WRITE_INTERVAL_S = 0.5  # the event thread stores what changed at most this often
_WAKE = object()  # :meth:`DetectionService.flush`'s marker on the result queue
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)


def store_dir(settings: EdgeSettings) -> Path:
    return settings.models.store_dir or settings.storage.data_dir / "models"


def cache_dir(settings: EdgeSettings) -> Path:
    return settings.models.cache_dir or Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))


class DetectorMetrics:
    def __init__(self, metrics: AgentMetrics) -> None:
        m = metrics
        self.latency = m.histogram("detection", "inference_seconds", "Submit-to-result time of one inference.",
                                   ("model",), buckets=LATENCY_BUCKETS)
        self.detections = m.counter("detection", "detections_total", "Detections after filtering.", ("camera", "label"))
        self.frames = m.counter("detection", "frames_total", "Frames read, by what happened to them.", ("camera", "outcome"))
        self.events_opened = m.counter("events", "opened_total", "Events opened.", ("camera", "label"))
        self.events_closed = m.counter("events", "closed_total", "Events closed.", ("camera", "label"))
        self.events_open = m.gauge("events", "open", "Events open now.", ("camera",))
        self.in_flight = m.gauge("detection", "requests_in_flight", "Infer requests running.")
        self.result_queue = m.gauge("detection", "result_queue_depth", "Results waiting for the tracker.")
        self.reloads = m.counter("detection", "model_loads_total", "Model loads, by result.", ("result",))
        self.model_loaded = m.gauge("detection", "model_loaded", "1 while a model is loaded; 0 while waiting for one.")
        self.model = m.info("detection", "model", "The model in use.")


@dataclass
class _Job:
    camera: str
    at: float  # capture time, unix seconds
    frame: np.ndarray


class CameraPipeline:
    """Reading, motion gating and submission for one camera (runs in its own thread)."""

    def __init__(self, service: DetectionService, camera: CameraSettings) -> None:
        self.service = service
        self.camera = camera
        self.gate = MotionGate(service.motion_settings)
        self.tracker = Tracker(service.tracker_settings)
        self.events = EventManager(camera.name, service.event_store, service.media, service.data_dir,
                                   service.model_ref, service.event_settings, deferred=True)
        self.last_result_at = 0.0
        self.reader = None
        self.failure: Exception | None = None  # what ended this camera's thread, if anything did
        # Label sets made up front: every outcome shows (as 0) from the start, and no lookup per frame.
        m = service.metrics
        self.outcomes = {o: m.frames.labels(camera.name, o) for o in FRAME_OUTCOMES}
        self.open_gauge = m.events_open.labels(camera.name)
        self._detections: dict[str, Any] = {}  # label → its counter, made on first use
        self.thread = threading.Thread(target=self._run, name=f"detect-{camera.name}", daemon=True)

    def _run(self) -> None:
        from agents.edge.video.frames import FrameReader

        s = self.service
        url = self.camera.detect_url or self.camera.record_url
        # The same reconnect and stall rules as the recorder ([recording] in the config).
        from agents.edge.recorder_service import recording_options

        self.reader = FrameReader(self.camera.name, url, fps=s.settings.detection.fps,
                                  options=recording_options(s.settings).stream)
        try:
            for frame in self.reader:
                if s.stopping.is_set():
                    break
                self.process(frame.bgr(), frame.time.timestamp())
        except Exception as exc:
            self.failure = exc
            log.exception("camera_detection_failed", camera=self.camera.name, error=str(exc))

    def process(self, image: np.ndarray, at: float, block: bool = False) -> str:
        """Gate one frame (BGR, captured at unix time ``at``) and submit it if it is worth it; returns
        the outcome counted in ``frames_total``. Without ``block`` a frame that finds every infer
        request busy is dropped (the next one is newer); the benchmark blocks to measure capacity."""
        s = self.service
        s.frames_read += 1
        infer, reason, _ = self.gate.decide(image, at, tracking=self.tracker.active)
        if not infer:
            outcome = "skipped_motion"
        else:
            detector = s.detector
            if detector is None or not detector.submit(image, _Job(self.camera.name, at, image), block=block):
                outcome = "skipped_busy"
            else:
                self.gate.inferred(at)
                outcome = f"inferred_{reason}"
        self.outcomes[outcome].inc()
        return outcome

    def on_result(self, job: _Job, result: InferenceResult) -> None:
        """On the event thread."""
        if job.at < self.last_result_at:
            return  # an older frame finished after a newer one: the tracker has moved on
        self.last_result_at = job.at
        m = self.service.metrics
        for det in result.detections:
            counter = self._detections.get(det.label)
            if counter is None:
                counter = self._detections[det.label] = m.detections.labels(self.camera.name, det.label)
            counter.inc()
        update = self.tracker.update(result.detections, job.at)
        self.events.handle(update, job.frame, job.at)
        for track in update.confirmed:
            m.events_opened.labels(self.camera.name, track.label).inc()
        for track in update.ended:
            m.events_closed.labels(self.camera.name, track.label).inc()
        self.open_gauge.set(len(self.events.open))


class DetectionService:
    """The detector process's work; :class:`DetectorAgent` runs it under the service runner."""

    def __init__(
        self, settings: EdgeSettings, metrics: AgentMetrics, media: EventMedia | None = None, load_model: bool = True
    ) -> None:
        """``load_model=False`` leaves the first load to :meth:`check_reload` (the service's supervisor
        runs it in the background, after READY): compiling a model can take minutes (a GPU without a
        compile cache, a first boot under emulation), longer than systemd should wait for start-up."""
        self.settings = settings
        d = settings.detection
        self.metrics = DetectorMetrics(metrics)
        self.data_dir = settings.storage.data_dir
        self.store = ModelStore(store_dir(settings))
        self.engine, self.sessions = open_database(self.data_dir / "edge.db")
        self.event_store = EventStore(self.sessions)
        if media is None:
            from agents.edge.events.media import VideoMedia

            media = VideoMedia(self.sessions, self.data_dir)
        self.media = media
        self.filters = FilterSettings(
            labels=set(d.labels) or None, default_threshold=d.threshold, thresholds=dict(d.thresholds),
            min_area=d.min_area, iou_threshold=d.nms_iou,
        )
        self.motion_settings = MotionSettings(
            width=d.motion.width, pixel_threshold=d.motion.pixel_threshold, min_cells=d.motion.min_cells,
            static_interval_s=d.motion.static_interval_s, tracking_analysis_every=d.motion.tracking_analysis_every,
        )
        self.tracker_settings = TrackerSettings(
            iou_match=d.tracking.iou_match, confirm_hits=d.tracking.confirm_hits, end_after_s=d.tracking.end_after_s
        )
        self.event_settings = EventSettings(
            pre_roll_s=d.events.pre_roll_s, post_roll_s=d.events.post_roll_s,
            # The post-roll's segment is indexed once complete: up to a segment length (+ a GOP) later.
            clip_wait_s=max(EventSettings.clip_wait_s, 2 * settings.recording.segment_seconds + 5),
        )
        # SimpleQueue: put/get in C, one lock (the callback threads hand every result over).
        self.results: queue.SimpleQueue[InferenceResult | object | None] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.frames_read = 0
        self.results_handled = 0  # through the tracker, and their events stored
        self.heartbeat = time.monotonic()
        self.detector: Detector | None = None
        self.model_problem = ""  # why there is no model, while there is none
        self._active_token = self.store.active_token()
        self.loading = not load_model  # the first load is still to come
        if load_model:
            try:
                self.detector = self._load(self._initial_model())
            except ModelError as exc:
                self._no_model(exc)
        self.started = False
        self.pipelines = {c.name: CameraPipeline(self, c) for c in settings.cameras if c.enabled}
        self.event_thread = threading.Thread(target=self._event_loop, name="detect-events", daemon=True)

    # -- models ----------------------------------------------------------------------------------
    @property
    def model_ref(self) -> str:
        return self.detector.ref if self.detector is not None else ""

    @property
    def status(self) -> str:
        """One line for systemd's STATUS= (``systemctl status``)."""
        if self.loading:
            return f"loading the model {self.settings.detection.model} (recording is not affected)"
        if self.detector is None:
            return f"waiting for a model: {self.model_problem}"
        return f"detecting with {self.detector.ref} on {len(self.pipelines)} camera(s)"

    def _no_model(self, exc: ModelError) -> None:
        self.model_problem = str(exc)
        self.metrics.model_loaded.set(0)
        log.warning("no_usable_model", error=str(exc), store=str(self.store.root))

    def _initial_model(self) -> StoredModel:
        active = self.store.active()
        if active is not None:
            return active
        try:
            return self.store.get(self.settings.detection.model)
        except ModelError:
            raise ModelError(
                f"no model in {self.store.root}: run `guardian-edge models fetch {self.settings.detection.model}`"
            ) from None

    def _load(self, stored: StoredModel) -> Detector:
        d = self.settings.detection
        try:
            model = self.store.load(stored)
            detector = Detector(stored, model, device=d.device, performance_hint=d.performance_hint,
                                num_requests=d.infer_requests, filters=self.filters, on_result=self.results.put)
        except GuardianError:
            self.metrics.reloads.labels("refused").inc()
            raise
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.model_loaded.set(1)
        self.metrics.model.info({"name": stored.manifest.name, "version": stored.manifest.version,
                                 "family": stored.manifest.family, "device": d.device})
        log.info("model_loaded", model=stored.manifest.ref, device=d.device, requests=detector.capacity)
        return detector

    def check_reload(self) -> bool:
        """Swap in a newly activated model; True when swapped. A model that fails validation is refused
        and the running one is kept."""
        token = self.store.active_token()
        if self.detector is None:
            return self._first_model(token)
        if token == self._active_token:
            return False
        self._active_token = token
        try:
            stored = self.store.active()
            if stored is None or stored.manifest.ref == self.detector.ref:
                return False
            new = self._load(stored)
        except GuardianError as exc:
            log.error("model_refused", error=str(exc), keeping=self.detector.ref)
            return False
        old, self.detector = self.detector, new
        for p in self.pipelines.values():
            p.events.model_ref = new.ref
        old.wait()
        log.info("model_swapped", old=old.ref, new=new.ref)
        return True

    def _first_model(self, token: str | None) -> bool:
        """While there is no model: look for one (fetched, activated or pushed), load it and start."""
        self._active_token = token
        try:
            detector = self._load(self._initial_model())
        except ModelError as exc:
            if str(exc) != self.model_problem:
                self._no_model(exc)
            return False
        finally:
            self.loading = False
        self.detector, self.model_problem = detector, ""
        for p in self.pipelines.values():
            p.events.model_ref = detector.ref
        if self.started and not self.stopping.is_set():
            for p in self.pipelines.values():
                p.thread.start()
        return True

    # -- results ---------------------------------------------------------------------------------
    def _event_loop(self) -> None:
        latency, latency_ref = None, None
        unstored = 0  # results handled since the last store
        last_store = time.monotonic()
        while True:
            # Wake for the next store if there is something to store, else at least twice a second.
            wait = 0.5 if not unstored else min(0.5, max(0.0, last_store + WRITE_INTERVAL_S - time.monotonic()))
            try:
                batch = [self.results.get(timeout=wait)]
            except queue.Empty:
                batch = []
            # Whatever else has queued up meanwhile (several cameras, a busy moment) joins this pass.
            while batch and batch[-1] is not None and len(batch) < MAX_PASS:
                try:
                    batch.append(self.results.get_nowait())
                except queue.Empty:
                    break
            now = time.time()
            results = [r for r in batch if isinstance(r, InferenceResult)]
            for result in results:
                job: _Job = result.userdata
                if latency_ref != self.model_ref:
                    latency_ref = self.model_ref
                    latency = self.metrics.latency.labels(latency_ref)
                latency.observe(result.latency_s)
                pipeline = self.pipelines.get(job.camera)
                if pipeline is not None:
                    pipeline.on_result(job, result)
            unstored += len(results)
            self.metrics.result_queue.set(self.results.qsize())
            self.metrics.in_flight.set(self.detector.in_flight if self.detector is not None else 0)
            for p in self.pipelines.values():
                # Tracks end by time even when no frame is analysed (e.g. the camera went away).
                if p.tracker.active and now - p.last_result_at > self.tracker_settings.end_after_s:
                    ended = p.tracker.expire(now)
                    if ended.ended:
                        p.events.handle(ended, np.zeros((1, 1, 3), np.uint8), now)
                p.events.tick(now)
            stopping = (not batch or batch[-1] is None) and self.stopping.is_set()
            # A flush's marker comes after every result queued before it (one FIFO queue).
            flushing = any(r is _WAKE for r in batch)
            if stopping or flushing or time.monotonic() - last_store >= WRITE_INTERVAL_S:
                self._store_events()
                last_store = time.monotonic()
                self.results_handled += unstored
                unstored = 0
            self.heartbeat = time.monotonic()
            if stopping:
                break

    def flush(self) -> None:
        """Have the event thread store, now rather than at its next interval, what the results queued so
        far change."""
        self.results.put(_WAKE)

    def _store_events(self) -> None:
        """What changed since the last store, every camera's, in one transaction."""
        rows = [row for p in self.pipelines.values() for row in p.events.take_unsaved()]
        if rows:
            self.event_store.save_all(rows)

    def start(self, readers: bool = True) -> None:
        """Start the event thread and (``readers``) a reading thread per camera; the benchmark feeds
        :meth:`CameraPipeline.process` itself."""
        self.started = readers
        self.event_thread.start()
        if readers and self.detector is not None:  # else when the first model arrives (check_reload)
            for p in self.pipelines.values():
                p.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for p in self.pipelines.values():
            if p.reader is not None:
                p.reader.close()
        for p in self.pipelines.values():
            if p.thread.is_alive():
                p.thread.join(timeout=15)
        if self.detector is not None:
            self.detector.wait()
        self.results.put(None)
        if self.event_thread.is_alive():
            self.event_thread.join(timeout=15)
        now = time.time()
        for p in self.pipelines.values():
            p.events.shutdown(p.tracker.flush(), now)
        self._store_events()
        self.engine.dispose()


class DetectorAgent:
    name = "edge-detector"

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.metrics = AgentMetrics("edge")
        self.service: DetectionService | None = None
        self._metrics_server: MetricsServer | None = None

    async def start(self, ctx: ServiceContext) -> None:
        # READY once the database, metrics and event thread are up; the model loads right after, in the
        # background (the supervisor's first check_reload), with STATUS= saying so.
        self.service = await asyncio.to_thread(DetectionService, self.settings, self.metrics, load_model=False)
        self._metrics_server = serve_metrics(self.settings.metrics, self.metrics)
        self.service.start()
        ctx.tasks.create_task(self._supervise(ctx), name="supervise")

    async def _supervise(self, ctx: ServiceContext) -> None:
        assert self.service is not None
        interval = self.settings.models.reload_interval_s
        last_check = 0.0
        status = ""
        # Model checks and loads run beside this loop, so STATUS= and the watchdog keep going while a
        # model compiles; the next check starts once the previous one has finished.
        reload: asyncio.Future[bool] | None = None
        try:
            while True:
                # READY=1 has gone out by now (the runner sends it when start() returns); STATUS= follows it.
                if self.service.status != status:
                    status = self.service.status
                    ctx.notifier.status(status)
                # Progress = the event thread is turning (it wakes at least twice a second); a camera that is
                # away is the reader's business (it reconnects), not a reason to restart the detector.
                if time.monotonic() - self.service.heartbeat < 10.0:
                    ctx.watchdog.progress()
                # A camera's thread that died would leave that camera undetected for good: end the agent
                # instead, and systemd starts it afresh (recording is another service, unaffected).
                for p in self.service.pipelines.values():
                    if p.failure is not None:
                        raise GuardianError(f"detection on camera {p.camera.name} failed: {p.failure}")
                if (reload is None or reload.done()) and time.monotonic() - last_check >= interval:
                    if reload is not None:
                        reload.result()  # an unexpected error ends the agent (and systemd restarts it)
                    last_check = time.monotonic()
                    reload = asyncio.ensure_future(asyncio.to_thread(self.service.check_reload))
                await asyncio.sleep(1.0)
        finally:
            if reload is not None:
                reload.cancel()  # the thread finishes on its own; nothing waits for it any more

    async def close(self) -> None:
        if self.service is not None:
            await asyncio.to_thread(self.service.stop)
        if self._metrics_server is not None:
            self._metrics_server.close()
