"""The edge recording service (``guardian-edge recorder run``): owns the cameras and keeps footage on disk.

One task per camera under the runtime's TaskGroup; each awaits a thread that reads the camera and
writes segments (:class:`~agents.edge.video.recording.CameraRecorder`). PyAV releases the GIL while it
waits for the network and copies packets, and detection runs in another process, so recording is never
slowed by it. Retention runs in its own thread and is told of every write error at once (a full disk
makes it free space and raise its free-space floor); camera status is written to the database every few
seconds for the other services.
"""

from __future__ import annotations

import asyncio
import threading

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
        self._retention_stop = threading.Event()
        self._retention_thread: threading.Thread | None = None

    async def start(self, ctx: ServiceContext) -> None:
        data_dir = self.settings.storage.data_dir
        self.store = await asyncio.to_thread(VideoStore.open, data_dir, database_path(self.settings))
        dropped, handled = await asyncio.to_thread(self.store.reconcile)
        if dropped or handled:
            # Each unindexed file was logged as segment_recovered or segment_removed (with the reason).
            log.info("footage_reconciled", rows_dropped=dropped, unindexed_files=handled)
        cameras = await asyncio.to_thread(sync_cameras, self.store.sessions, self.settings.cameras)
        enabled = [c for c in cameras if c.enabled]
        self.cameras_configured.set(len(enabled))
        self.retention = Retention(self.store, self.settings.retention, self.metrics)
        self._retention_thread = threading.Thread(
            target=self.retention.run_forever, args=(self._retention_stop,), name="retention", daemon=True
        )
        self._retention_thread.start()
        options = RecordingOptions.from_settings(self.settings.recording)
        for cam in enabled:
            recorder = CameraRecorder(
                cam.name, cam.record_url, self.store, options, self.video_metrics, on_write_error=self.retention.write_failed
            )
            self.recorders[cam.name] = recorder
            ctx.tasks.create_task(self._record(recorder), name=f"record-{cam.name}")
        self._metrics_server = serve_metrics(self.settings.metrics, self.metrics)
        ctx.tasks.create_task(self._housekeeping(ctx), name="housekeeping")

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
