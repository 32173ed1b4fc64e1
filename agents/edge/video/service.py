"""The edge recording service (``guardian-edge recorder run``): owns the cameras and keeps footage on disk.

One task per camera under the runtime's TaskGroup; each awaits a thread that reads the camera and
writes segments (:class:`~agents.edge.video.recording.CameraRecorder`). PyAV releases the GIL while it
waits for the network and copies packets, and detection runs in another process, so recording is never
slowed by it. Retention runs in its own thread and is told of every write error at once (a full disk
makes it free space and raise its free-space floor); camera status is written to the database every few
seconds for the other services.

The cameras come from the ``cameras`` table (edge.toml's, or the cloud's desired config once one is
applied, :mod:`agents.edge.camera_config`) and are re-read every :data:`STATUS_INTERVAL_S` (hot reload):
a camera added or enabled starts, one removed or disabled stops, one whose stream changed restarts; the
others are not touched. A camera whose credentials cannot be opened is not started (and said so once);
the rest record on.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial

from agents.edge.camera_config.cameras import CameraSpec, KeySource, camera_changes, runnable_cameras
from agents.edge.camera_config.errors import CredentialsUnavailable
from agents.edge.camera_config.key import config_key_path
from agents.edge.camera_config.store import camera_retention_days
from agents.edge.config import EdgeSettings
from agents.edge.db import database_path
from agents.edge.video.cameras import save_statuses, sync_cameras
from agents.edge.video.recording import CameraRecorder, RecordingOptions, VideoMetrics
from agents.edge.video.retention import Retention
from agents.edge.video.segments import VideoStore
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.recorder")

STATUS_INTERVAL_S = 2.0


class RecorderAgent:
    name = "edge-recorder"

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.metrics = AgentMetrics("edge")
        self.cameras_configured = self.metrics.gauge("recorder", "cameras_configured", "Cameras in the config.")
        self.video_metrics = VideoMetrics(self.metrics)
        self._metrics_server: MetricsServer | None = None
        self.store: VideoStore | None = None
        self.retention: Retention | None = None
        self.recorders: dict[str, CameraRecorder] = {}
        self._specs: dict[str, CameraSpec] = {}  # what each running recorder was started from
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unopenable: dict[str, CameraSpec] = {}  # not started: its credentials cannot be opened
        self._keys = KeySource(config_key_path(settings.storage.data_dir))
        self._options: RecordingOptions | None = None
        self._retention_stop = threading.Event()
        self._retention_thread: threading.Thread | None = None

    async def start(self, ctx: ServiceContext) -> None:
        data_dir = self.settings.storage.data_dir
        self.store = await asyncio.to_thread(VideoStore.open, data_dir, database_path(self.settings))
        dropped, handled = await asyncio.to_thread(self.store.reconcile)
        if dropped or handled:
            # Each unindexed file was logged as segment_recovered or segment_removed (with the reason).
            log.info("footage_reconciled", rows_dropped=dropped, unindexed_files=handled)
        await asyncio.to_thread(sync_cameras, self.store.sessions, self.settings.cameras)
        self.retention = Retention(self.store, self.settings.retention, self.metrics,
                                   camera_days=partial(camera_retention_days, self.store.sessions))
        self._retention_thread = threading.Thread(
            target=self.retention.run_forever, args=(self._retention_stop,), name="retention", daemon=True
        )
        self._retention_thread.start()
        self._options = RecordingOptions.from_settings(self.settings.recording)
        await self.reload_cameras(ctx)
        self._metrics_server = serve_metrics(self.settings.metrics, self.metrics)
        ctx.tasks.create_task(self._housekeeping(ctx), name="housekeeping")

    async def reload_cameras(self, ctx: ServiceContext) -> None:
        """Make the running recorders match the table: start, stop and restart what changed."""
        assert self.store is not None
        wanted = await asyncio.to_thread(runnable_cameras, self.store.sessions)
        # Only the recorded stream counts: changed detection settings never interrupt the footage.
        stop, start = camera_changes(self._specs, wanted, self._unopenable, CameraSpec.record_source)
        for name in stop:
            await self._stop_camera(name)
        for spec in start:
            self._start_camera(ctx, spec)
        self.cameras_configured.set(len(self.recorders))

    def _start_camera(self, ctx: ServiceContext, spec: CameraSpec) -> None:
        assert self.store is not None and self.retention is not None and self._options is not None
        try:
            url = spec.record_stream_url(self._keys)  # credentials inserted here, in memory only
        except CredentialsUnavailable as exc:
            self._unopenable[spec.name] = spec
            log.error("camera_not_started", camera=spec.name, reason=exc.reason)
            return
        self._unopenable.pop(spec.name, None)
        recorder = CameraRecorder(
            spec.name, url, self.store, self._options, self.video_metrics, on_write_error=self.retention.write_failed
        )
        self.recorders[spec.name] = recorder
        self._specs[spec.name] = spec
        self._tasks[spec.name] = ctx.tasks.create_task(self._record(recorder), name=f"record-{spec.name}")
        log.info("camera_started", camera=spec.name)

    async def _stop_camera(self, name: str) -> None:
        assert self.store is not None
        recorder = self.recorders.pop(name)
        self._specs.pop(name)
        task = self._tasks.pop(name)
        task.cancel()  # its finally stops the recorder's thread
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(save_statuses, self.store.sessions, [recorder.status.snapshot()])
        log.info("camera_stopped", camera=name)

    async def _record(self, recorder: CameraRecorder) -> None:
        recorder.start()
        try:
            while recorder.alive:
                await asyncio.sleep(1.0)
            log.error("recorder_thread_ended", camera=recorder.camera)
        finally:
            await asyncio.to_thread(recorder.stop)

    async def _housekeeping(self, ctx: ServiceContext) -> None:
        assert self.store is not None
        while True:
            statuses = [r.status.snapshot() for r in self.recorders.values()]
            await asyncio.to_thread(save_statuses, self.store.sessions, statuses)
            usage = await asyncio.to_thread(self.store.bytes_by_camera)
            for name in self.recorders:
                self.video_metrics.disk_bytes.labels(name).set(usage.get(name, 0))
            if all(r.alive for r in self.recorders.values()):
                ctx.watchdog.progress()
            await asyncio.sleep(STATUS_INTERVAL_S)
            await self.reload_cameras(ctx)

    async def close(self) -> None:
        for recorder in self.recorders.values():
            recorder.stop_event.set()
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in self.recorders.values()))
        self._retention_stop.set()
        if self.retention is not None:
            self.retention.request()
        if self._retention_thread is not None:
            await asyncio.to_thread(self._retention_thread.join, 10)
        if self.store is not None and self.recorders:
            await asyncio.to_thread(save_statuses, self.store.sessions, [r.status.snapshot() for r in self.recorders.values()])
        if self._metrics_server is not None:
            self._metrics_server.close()
