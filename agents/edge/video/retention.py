"""Retention: footage is kept per class by age, and the disk never fills.

One pass (:meth:`Retention.run_once`), run every ``interval_s`` and at once when a segment write fails:

1. **age** — continuous segments older than ``continuous_days`` and event clips older than
   ``events_days`` are deleted;
2. **space** — while the filesystem's free space is under the watermark (``min_free_bytes`` or
   ``min_free_percent``, whichever asks more) or the footage is over the optional budget
   (``max_bytes``), the oldest continuous segments are deleted first, then the oldest event clips.
   It frees a little more than needed (``HYSTERESIS``) so it does not run on every segment.

Deletion removes the index row (committed) before the file, so the index never points at a missing
file. Recording never waits for retention: it runs in its own thread.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field

from agents.edge.config import RetentionSettings
from agents.edge.video.segments import Clip, Segment, VideoStore
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.retention")

HYSTERESIS = 0.05  # free 5 % of the threshold more than strictly needed
BATCH = 20


@dataclass
class RetentionReport:
    expired_segments: int = 0
    expired_clips: int = 0
    space_segments: int = 0
    space_clips: int = 0
    freed_bytes: int = 0
    deleted: list[str] = field(default_factory=list)  # stored paths, oldest first

    @property
    def total(self) -> int:
        return self.expired_segments + self.expired_clips + self.space_segments + self.space_clips


class Retention:
    def __init__(self, store: VideoStore, settings: RetentionSettings, metrics: AgentMetrics | None = None) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.deleted = self.free_bytes = self.footage_bytes = None
        if metrics is not None:
            self.deleted = metrics.counter("retention", "deleted_total", "Footage files deleted.", ("footage", "reason"))
            for footage in ("continuous", "event"):
                for reason in ("age", "space"):
                    self.deleted.labels(footage, reason)
            self.free_bytes = metrics.gauge("retention", "disk_free_bytes", "Free bytes on the footage filesystem.")
            self.footage_bytes = metrics.gauge("retention", "footage_bytes", "Bytes of indexed footage.")

    def request(self) -> None:
        """Ask for a pass as soon as possible (from any thread, e.g. after a write error)."""
        self._wake.set()

    def bytes_to_free(self) -> int:
        """How many bytes must go now (0 when within watermark and budget)."""
        s = self.settings
        self.store.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.store.root)
        if self.free_bytes is not None:
            self.free_bytes.set(usage.free)
        want_free = max(s.min_free_bytes, usage.total * s.min_free_percent / 100)
        need = 0.0
        if usage.free < want_free:
            need = want_free - usage.free + want_free * HYSTERESIS
        if s.max_bytes is not None:
            used = self.store.total_bytes()
            if self.footage_bytes is not None:
                self.footage_bytes.set(used)
            if used > s.max_bytes:
                need = max(need, used - s.max_bytes + s.max_bytes * HYSTERESIS)
        return int(need)

    def run_once(self, now: float | None = None) -> RetentionReport:
        with self._lock:
            return self._run(time.time() if now is None else now)

    def _delete(self, rows: list[Segment] | list[Clip], report: RetentionReport, reason: str) -> int:
        freed = self.store.delete(rows)
        report.freed_bytes += freed
        report.deleted.extend(r.path for r in rows)
        footage = "continuous" if rows and isinstance(rows[0], Segment) else "event"
        if self.deleted is not None and rows:
            self.deleted.labels(footage, reason).inc(len(rows))
        return freed

    def _run(self, now: float) -> RetentionReport:
        s = self.settings
        report = RetentionReport()
        while rows := self.store.oldest_segments(BATCH, before_ts=now - s.continuous_days * 86400):
            self._delete(rows, report, "age")
            report.expired_segments += len(rows)
        while rows := self.store.oldest_clips(BATCH, before_ts=now - s.events_days * 86400):
            self._delete(rows, report, "age")
            report.expired_clips += len(rows)
        need = self.bytes_to_free()
        while need > 0:
            segments = self.store.oldest_segments(BATCH)
            if segments:
                # Within a batch, stop as soon as enough is freed: delete one by one from the oldest.
                for row in segments:
                    need -= max(self._delete([row], report, "space"), row.size_bytes)
                    report.space_segments += 1
                    if need <= 0:
                        break
                continue
            clips = self.store.oldest_clips(1)
            if not clips:
                log.error("disk_full_no_footage_left", need_bytes=need)
                break
            need -= max(self._delete(clips, report, "space"), clips[0].size_bytes)
            report.space_clips += 1
        if self.footage_bytes is not None:
            self.footage_bytes.set(self.store.total_bytes())
        if report.total:
            log.info(
                "retention_pass", expired_segments=report.expired_segments, expired_clips=report.expired_clips,
                space_segments=report.space_segments, space_clips=report.space_clips, freed_bytes=report.freed_bytes,
            )
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """The retention thread: a pass every ``interval_s`` or when requested, until ``stop``."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                log.error("retention_failed", error=type(exc).__name__, exc_info=exc)
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()
