"""``guardian-edge detector run``: the detection service, a process of its own.

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
open tracks it loses anyway; a stop stores everything. The events a crash left open are ended by the next
run (:meth:`DetectionService.close_leftovers`, at start and every minute), at their last stored track point.

The per-camera work is :mod:`~agents.edge.detection.pipeline`'s, the model and its hot swap
:mod:`~agents.edge.detection.model_slot`'s; this module wires them to the database, the event thread and
the service runner.

The cameras come from the ``cameras`` table (edge.toml's, or the cloud's desired config once applied,
:mod:`agents.edge.camera_config`) and are re-read every :data:`CAMERA_RELOAD_S` (hot reload, as the
recorder's): a camera added or enabled starts being detected, one removed or disabled stops (its open
events end), one whose detect stream or credentials changed restarts; a camera whose only change is its
detection settings (labels, thresholds, areas, zones, masks, tiles, input size) keeps running with the new rules;
a new input size's model is compiled before the camera moves to it, and one no camera uses any more is released
(:class:`~agents.edge.detection.model_slot.ModelSlot`). A camera
whose credentials or settings cannot be read is not watched (and said so); the others are not touched.

Without a usable model (an empty store, a corrupt file) the service still starts: it tells systemd it is
ready with a status saying what is missing (``systemctl status`` shows it), keeps polling the store, and
starts detecting as soon as a model is there — no restart loop, no failed unit to restart by hand, and
recording (another service) is never affected.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time

from agents.edge.camera_config.cameras import CameraSpec, KeySource, camera_changes, runnable_cameras
from agents.edge.camera_config.errors import CredentialsUnavailable
from agents.edge.camera_config.key import config_key_path
from agents.edge.config import CameraSettings, EdgeSettings
from agents.edge.db import database_path, open_database
from agents.edge.detection.camera_rules import CameraRules, CameraRulesError
from agents.edge.detection.detector import Detector
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.model_slot import ModelSlot
from agents.edge.detection.picture import PictureWriter, remove_pictures_except
from agents.edge.detection.pipeline import CameraPipeline, Job
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager, EventMedia, clip_wait_s
from agents.edge.events.store import EventRow, EventStore
from agents.edge.models.paths import store_dir
from agents.edge.models.store import ModelStore
from agents.edge.mqtt.link import MqttLink
from agents.edge.video.cameras import sync_cameras
from agents.edge.video.ingest import StreamOptions
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.detector")

MAX_PASS = 32  # results the event thread takes in one pass
WRITE_INTERVAL_S = 0.5  # the event thread stores what changed at most this often
LEFTOVER_INTERVAL_S = 60.0  # how often the event thread looks for events left open by an earlier run
CAMERA_RELOAD_S = 2.0  # how often the cameras table is re-read (the recorder's pace)
_WAKE = object()  # :meth:`DetectionService.flush`'s marker on the result queue


class _Retired:
    """On the result queue: a camera no longer watched, whose tracks and events the event thread ends."""

    def __init__(self, pipeline: CameraPipeline) -> None:
        self.pipeline = pipeline


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
        self.engine, self.sessions = open_database(database_path(settings))
        self.event_store = EventStore(self.sessions)
        if media is None:
            from agents.edge.events.media import VideoMedia

            media = VideoMedia(self.sessions, self.data_dir)
        self.media = media
        # SimpleQueue: put/get in C, one lock (the callback threads hand every result over).
        self.results: queue.SimpleQueue[InferenceResult | object | None] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.results_handled = 0  # through the tracker, and their events stored
        self._retired_rows: list[EventRow] = []  # the ends of unwatched cameras' events (event thread only)
        self.heartbeat = time.monotonic()
        self.slot = ModelSlot(ModelStore(store_dir(settings)), d, self.metrics, self.results.put, self._model_changed)
        self.started = False
        self._stream = StreamOptions.from_settings(settings.recording)  # the recorder's reconnect and stall rules
        self._clip_wait = clip_wait_s(settings.recording.segment_seconds)
        # Replaced whole on a change (the event thread iterates the dict it read; never mutated in place).
        self.pipelines: dict[str, CameraPipeline] = {}
        self._specs: dict[str, CameraSpec] = {}  # what each pipeline was made from
        self._unwatchable: dict[str, CameraSpec] = {}  # its credentials or settings cannot be read
        self._keys = KeySource(config_key_path(self.data_dir))
        # Events and occupancy to the site's MQTT broker when the applied config asks for it (LAN only).
        self.mqtt = MqttLink(self.sessions, self._keys, d.labels, metrics)
        # Camera changes and model arrivals (which start the cameras' threads) take turns.
        self._cameras_lock = threading.Lock()
        sync_cameras(self.sessions, settings.cameras)  # the recorder may not have run yet
        self.reload_cameras()
        if load_model:
            self.slot.check()
        self.event_thread = threading.Thread(target=self._event_loop, name="detect-events", daemon=True)

    # -- cameras ---------------------------------------------------------------------------------
    def reload_cameras(self) -> None:
        """Make the pipelines match the cameras table: start, stop and restart what changed, and give the
        running ones their current rules. Blocks while a stopped camera's thread finishes its frame."""
        wanted = runnable_cameras(self.sessions)
        self.mqtt.refresh()
        # Each input size's model compiled before its cameras switch to it (outside the cameras' lock: a model
        # swap holds the slot's and then takes that one).
        self.slot.use_sizes(self._input_sizes(wanted))
        for name in remove_pictures_except(self.data_dir, [spec.name for spec in wanted]):
            log.info("camera_picture_removed", camera=name)
        with self._cameras_lock:
            if self.stopping.is_set():
                return
            stop, start = camera_changes(self._specs, wanted, self._unwatchable, CameraSpec.detect_source)
            pipelines = dict(self.pipelines)
            retired = [pipelines.pop(name) for name in stop]
            for name in stop:
                del self._specs[name]
            for spec in wanted:
                if spec.name in pipelines and spec.name not in stop:
                    self._update_rules(pipelines[spec.name], spec)
            for spec in start:
                pipeline = self._pipeline(spec)
                if pipeline is not None:
                    pipelines[spec.name] = pipeline
            self.pipelines = pipelines
            detector = self.slot.detector
            for spec in start:
                pipeline = pipelines.get(spec.name)
                if pipeline is not None and detector is not None:
                    pipeline.set_model(detector.ref, detector.family)
                    if self.started:
                        pipeline.start()
        for pipeline in retired:
            pipeline.close()
        restarted = {spec.name for spec in start}
        for pipeline in retired:
            pipeline.join(timeout=15)
            self.results.put(_Retired(pipeline))  # after its last submitted frame's result, or with it
            if pipeline.camera.name not in restarted:  # a restarted camera's new pipeline has set its own
                pipeline.forget_decode_path()
            log.info("camera_unwatched", camera=pipeline.camera.name)

    def _pipeline(self, spec: CameraSpec) -> CameraPipeline | None:
        """A pipeline for ``spec`` (not started), or None when its stream or rules cannot be read."""
        try:
            url = spec.detect_stream_url(self._keys)  # credentials inserted here, in memory only
            rules = CameraRules.from_json(spec.name, spec.detection_json)
        except (CredentialsUnavailable, CameraRulesError) as exc:
            self._unwatchable[spec.name] = spec
            log.error("camera_not_watched", camera=spec.name, reason=exc.reason)
            return None
        self._unwatchable.pop(spec.name, None)
        self._specs[spec.name] = spec
        d = self.settings.detection
        events = EventManager(spec.name, self.event_store, self.media, self.data_dir, "", d.events, deferred=True,
                              clip_wait_s=self._clip_wait)
        events.observer = self.mqtt
        log.info("camera_watched", camera=spec.name)
        return CameraPipeline(CameraSettings(name=spec.name, record_url=url), d, events, self.slot.detector_for,
                              self.metrics, self.stopping, self._stream, rules, PictureWriter(self.data_dir, spec.name))

    def _input_sizes(self, wanted: list[CameraSpec]) -> list[int]:
        """The network input size each camera to be watched asks for (0: the edge's default); a camera whose
        settings cannot be read keeps its pipeline's, as its rules are kept. Only a camera whose settings changed
        since they were last read is parsed again (this runs every CAMERA_RELOAD_S)."""
        sizes = []
        for spec in wanted:
            running, known = self.pipelines.get(spec.name), self._specs.get(spec.name)
            if running is not None and known is not None and known.detection_json == spec.detection_json:
                sizes.append(running.rules.input_size)
                continue
            try:
                sizes.append(CameraRules.from_json(spec.name, spec.detection_json).input_size)
            except CameraRulesError:
                if running is not None:
                    sizes.append(running.rules.input_size)
        return sizes

    def _update_rules(self, pipeline: CameraPipeline, spec: CameraSpec) -> None:
        if self._specs[spec.name].detection_json == spec.detection_json:
            return
        try:
            pipeline.rules = CameraRules.from_json(spec.name, spec.detection_json)
        except CameraRulesError as exc:
            # The old rules stay (a damaged row must not lift a mask); said once per change.
            log.error("camera_rules_not_changed", camera=spec.name, reason=exc.reason)
        else:
            log.info("camera_rules_changed", camera=spec.name)
        self._specs[spec.name] = spec

    # -- models ----------------------------------------------------------------------------------
    @property
    def detector(self) -> Detector | None:
        return self.slot.detector

    @property
    def model_ref(self) -> str:
        return self.slot.ref

    @property
    def status(self) -> str:
        """One line for systemd's STATUS= (``systemctl status``)."""
        if self.slot.loading:
            return f"loading the model {self.slot.first_model_name()} (recording is not affected)"
        if self.slot.detector is None:
            return f"waiting for a model: {self.slot.problem}"
        return f"detecting with {self.slot.detector.ref} on {len(self.pipelines)} camera(s)"

    def check_reload(self) -> bool:
        """Load the first model or swap in a newly activated one; True when the detector changed."""
        return self.slot.check()

    def _model_changed(self, detector: Detector) -> None:
        with self._cameras_lock:
            for p in self.pipelines.values():
                p.set_model(detector.ref, detector.family)
                # The cameras' threads start with the first model (once the service has started).
                if self.started and not self.stopping.is_set():
                    p.start()

    # -- results ---------------------------------------------------------------------------------
    def _event_loop(self) -> None:
        latency, latency_ref = None, None
        unstored = 0  # results handled since the last store
        last_store = last_sweep = time.monotonic()
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
            retired = [r.pipeline for r in batch if isinstance(r, _Retired)]
            for result in results:
                job: Job = result.userdata
                if latency is None or latency_ref != self.model_ref:
                    latency_ref = self.model_ref
                    latency = self.metrics.latency.labels(latency_ref)
                latency.observe(result.latency_s)
                pipeline = self.pipelines.get(job.camera)
                if pipeline is not None:
                    pipeline.on_result(job, result, now)
            unstored += len(results)
            self.metrics.result_queue.set(self.results.qsize())
            self.metrics.in_flight.set(self.slot.in_flight)
            for p in self.pipelines.values():
                p.tick(now)
            for p in retired:
                p.shutdown(now)  # its open events end now; stored with the next store, below
                self._retired_rows += p.take_unsaved()
            stopping = (not batch or batch[-1] is None) and self.stopping.is_set()
            # A flush's marker comes after every result queued before it (one FIFO queue).
            flushing = any(r is _WAKE for r in batch)
            if stopping or flushing or retired or time.monotonic() - last_store >= WRITE_INTERVAL_S:
                self._store_events()
                last_store = time.monotonic()
                self.results_handled += unstored
                unstored = 0
                # Right after a store, so the database holds every event this run has changed.
                if not stopping and last_store - last_sweep >= LEFTOVER_INTERVAL_S:
                    self.close_leftovers()
                    last_sweep = last_store
            self.heartbeat = time.monotonic()
            if stopping:
                break

    def flush(self) -> None:
        """Have the event thread store, now rather than at its next interval, what the results queued so
        far change."""
        self.results.put(_WAKE)

    def _store_events(self) -> None:
        """What changed since the last store, every camera's, in one transaction."""
        rows = [row for p in self.pipelines.values() for row in p.take_unsaved()] + self._retired_rows
        self._retired_rows = []
        if rows:
            self.event_store.save_all(rows)

    def close_leftovers(self) -> int:
        """End the events an earlier run left open (a detector killed mid-event: its tracks are gone, and
        no end would ever come), at the last time each object was seen, and queue the ends for the relay.
        Run at start and every :data:`LEFTOVER_INTERVAL_S` on the event thread (a sweep that failed at
        start, a database restored from a copy); the events this run has open are kept. Returns how many
        were closed."""
        keep = {ev.row.id for p in self.pipelines.values() for ev in p.events.open.values()}
        rows = self.event_store.close_leftovers(keep)
        for row in rows:
            log.info("leftover_event_closed", camera=row.camera, event_id=row.id, label=row.label,
                     end=row.end_at.isoformat() if row.end_at is not None else None)
        return len(rows)

    def start(self, readers: bool = True) -> None:
        """Close what an earlier run left open, then start the event thread and (``readers``) a reading
        thread per camera; the benchmark feeds :meth:`CameraPipeline.process` itself."""
        self.close_leftovers()  # before any event of this run exists
        self.event_thread.start()
        with self._cameras_lock:
            self.started = readers
            if readers and self.slot.detector is not None:  # else when the first model arrives (check_reload)
                for p in self.pipelines.values():
                    p.start()

    def stop(self) -> None:
        with self._cameras_lock:  # no camera starts from here on
            self.stopping.set()
        for p in self.pipelines.values():
            p.close()
        for p in self.pipelines.values():
            p.join(timeout=15)
        self.slot.wait()
        self.results.put(None)
        if self.event_thread.is_alive():
            self.event_thread.join(timeout=15)
        now = time.time()
        for p in self.pipelines.values():
            p.shutdown(now)
        self._store_events()
        self.mqtt.close()  # after the last events ended: their ends are published, then "offline"
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
        await asyncio.to_thread(self.service.start)  # its first act is a database sweep
        ctx.tasks.create_task(self._supervise(ctx), name="supervise")

    async def _supervise(self, ctx: ServiceContext) -> None:
        assert self.service is not None
        interval = self.settings.models.reload_interval_s
        last_check = 0.0
        status = ""
        # Model checks and loads run beside this loop, so STATUS= and the watchdog keep going while a
        # model compiles; the next check starts once the previous one has finished.
        reload: asyncio.Future[bool] | None = None
        # Camera changes beside it too: a stopped camera's thread may take a moment to finish its frame.
        cameras: asyncio.Future[None] | None = None
        last_cameras = time.monotonic()
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
                if (cameras is None or cameras.done()) and time.monotonic() - last_cameras >= CAMERA_RELOAD_S:
                    if cameras is not None:
                        cameras.result()  # as above: a database that cannot be read ends the agent
                    last_cameras = time.monotonic()
                    cameras = asyncio.ensure_future(asyncio.to_thread(self.service.reload_cameras))
                await asyncio.sleep(1.0)
        finally:
            for pending in (reload, cameras):
                if pending is not None:
                    pending.cancel()  # the thread finishes on its own; nothing waits for it any more

    async def close(self) -> None:
        if self.service is not None:
            await asyncio.to_thread(self.service.stop)
        if self._metrics_server is not None:
            self._metrics_server.close()
