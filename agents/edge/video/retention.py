"""Retention: footage is kept per class by age, and the disk never fills.

One pass (:meth:`Retention.run_once`), run every ``interval_s`` and at once when a segment write fails:

1. **age** — continuous segments older than their camera's own days (``retention_days`` in the applied
   desired config, :func:`agents.edge.camera_config.store.camera_retention_days`) or, for a camera without
   (0, edge.toml's cameras, cameras removed from the config), ``continuous_days``, and event clips older
   than ``events_days`` are deleted;
2. **space** — while the filesystem's free space is under the floor (``min_free_bytes`` or
   ``min_free_percent``, whichever asks more) or the footage is over the optional budget
   (``max_bytes``), the oldest continuous segments are deleted first, then the oldest event clips.
   It frees a little more than needed (``HYSTERESIS``) so it does not run on every segment.

The floor is what keeps the recorder from ever meeting a full disk. When it meets one anyway (the
floor set to 0 or too small for the cameras' rate, another program filling the disk), the recorder
reports the write error (:meth:`Retention.write_failed`) and the next pass, at once, is a **disk-full**
pass: it raises the floor it keeps for the rest of the run to what the cameras write in two passes'
time (estimated from each camera's recent segments, at most ``DISK_FULL_MAX_FRACTION`` of the
filesystem, logged once as ``free_space_floor_raised``) and frees up to it, oldest first
(``guardian_edge_retention_deleted_total{reason="disk_full"}``). So a full disk is one episode, not a
cycle that repeats each time the space runs out again.

Deletion removes the index row (committed) before the file, so the index never points at a missing
file — except when the database itself cannot commit for lack of space, where the files go first (see
:mod:`agents.edge.video.segments`). Recording never waits for retention: it runs in its own thread.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from agents.edge.config import RetentionSettings
from agents.edge.db.tables import Clip, Segment
from agents.edge.video.segments import VideoStore, is_disk_full
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.retention")

HYSTERESIS = 0.05  # free 5 % of the threshold more than strictly needed
BATCH = 20
DISK_FULL_MIN_HEADROOM = 1024 * 1024  # after a disk-full, keep at least this much free…
DISK_FULL_MAX_FRACTION = 0.25  # …and at most this share of the filesystem (unless configured higher)


@dataclass
class RetentionReport:
    expired_segments: int = 0
    expired_clips: int = 0
    space_segments: int = 0
    space_clips: int = 0
    freed_bytes: int = 0
    disk_full: bool = False  # the pass answered a disk-full write error
    deleted: list[str] = field(default_factory=list)  # stored paths, oldest first

    @property
    def total(self) -> int:
        return self.expired_segments + self.expired_clips + self.space_segments + self.space_clips


def _no_camera_days() -> Mapping[str, float]:
    return {}


class Retention:
    def __init__(
        self, store: VideoStore, settings: RetentionSettings, metrics: AgentMetrics | None = None,
        camera_days: Callable[[], Mapping[str, float]] = _no_camera_days,
    ) -> None:
        self.store = store
        self.settings = settings
        # Cameras with their own days of continuous recording (read each pass: a config applied meanwhile
        # counts from the next pass); the others keep ``continuous_days``.
        self.camera_days = camera_days
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._disk_full = threading.Event()
        self.learned_floor = 0  # bytes to keep free, raised after a disk-full (kept for the whole run)
        self._short_without_footage = False  # under the floor with nothing left to delete (reported)
        self.deleted = self.free_bytes = self.footage_bytes = self.floor_bytes = None
        if metrics is not None:
            self.deleted = metrics.counter("retention", "deleted_total", "Footage files deleted.", ("footage", "reason"))
            for footage in ("continuous", "event"):
                for reason in ("age", "space", "disk_full"):
                    self.deleted.labels(footage, reason)
            self.free_bytes = metrics.gauge("retention", "disk_free_bytes", "Free bytes on the footage filesystem.")
            self.footage_bytes = metrics.gauge("retention", "footage_bytes", "Bytes of indexed footage.")
            self.floor_bytes = metrics.gauge(
                "retention", "free_floor_bytes", "Free space retention keeps: the configured floor, or more after a disk-full."
            )

    def request(self) -> None:
        """Ask for a pass as soon as possible (from any thread, e.g. after a write error)."""
        self._wake.set()

    def write_failed(self, exc: BaseException) -> None:
        """A footage write failed (the recorder's ``on_write_error``): a pass at once, a disk-full pass
        if the disk is full."""
        if is_disk_full(exc):
            self._disk_full.set()
        self.request()

    def floor(self, total: int) -> int:
        """Free bytes to keep on a filesystem of ``total`` bytes."""
        s = self.settings
        return int(max(s.min_free_bytes, total * s.min_free_percent / 100, self.learned_floor))

    def bytes_to_free(self) -> int:
        """How many bytes must go now (0 when within watermark and budget)."""
        s = self.settings
        self.store.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.store.root)
        want_free = self.floor(usage.total)
        if self.free_bytes is not None and self.floor_bytes is not None:
            self.free_bytes.set(usage.free)
            self.floor_bytes.set(want_free)
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

    def _raise_floor(self) -> None:
        """After a disk-full: keep free twice what the cameras write between two passes plus a segment each
        (rates from each camera's recent segments)."""
        usage = shutil.disk_usage(self.store.root)
        recent = self.store.recent_by_camera()
        rate = segments = 0.0  # bytes/s written by all cameras; their largest recent segments
        for rows in recent.values():
            duration = sum(d for _size, d in rows)
            rate += sum(size for size, _d in rows) / duration if duration > 0 else 0.0
            segments += max(size for size, _d in rows)
        headroom = max(DISK_FULL_MIN_HEADROOM, 2 * (rate * self.settings.interval_s + segments))
        floor = int(min(headroom, usage.total * DISK_FULL_MAX_FRACTION))
        if floor > self.learned_floor:
            self.learned_floor = floor
            log.warning(
                "free_space_floor_raised", floor_bytes=self.floor(usage.total), learned_bytes=floor,
                configured_bytes=int(max(self.settings.min_free_bytes, usage.total * self.settings.min_free_percent / 100)),
                cameras=len(recent),
            )

    def _delete(self, rows: list[Segment] | list[Clip], report: RetentionReport, reason: str) -> int:
        try:
            freed = self.store.delete(rows)
        except OperationalError as exc:
            if not is_disk_full(exc):
                raise
            # The database cannot commit even a deletion: make room with the files first.
            log.warning("database_full_deleting_files_first", files=len(rows))
            freed = self.store.delete(rows, files_first=True)
        report.freed_bytes += freed
        report.deleted.extend(r.path for r in rows)
        footage = "continuous" if rows and isinstance(rows[0], Segment) else "event"
        if self.deleted is not None and rows:
            self.deleted.labels(footage, reason).inc(len(rows))
        return freed

    def _run(self, now: float) -> RetentionReport:
        s = self.settings
        report = RetentionReport()
        if self._disk_full.is_set():
            self._disk_full.clear()
            report.disk_full = True
            self._raise_floor()
        space = "disk_full" if report.disk_full else "space"
        own_days = self.camera_days()
        for camera, days in own_days.items():
            while rows := self.store.oldest_segments(BATCH, before_ts=now - days * 86400, camera=camera):
                self._delete(rows, report, "age")
                report.expired_segments += len(rows)
        while rows := self.store.oldest_segments(BATCH, before_ts=now - s.continuous_days * 86400, other_than=own_days):
            self._delete(rows, report, "age")
            report.expired_segments += len(rows)
        while clips := self.store.oldest_clips(BATCH, before_ts=now - s.events_days * 86400):
            self._delete(clips, report, "age")
            report.expired_clips += len(clips)
        need = self.bytes_to_free()
        if need <= 0:
            self._short_without_footage = False
        while need > 0:
            segments = self.store.oldest_segments(BATCH)
            if segments:
                # Within a batch, stop as soon as enough is freed: delete one by one from the oldest.
                for row in segments:
                    need -= max(self._delete([row], report, space), row.size_bytes)
                    report.space_segments += 1
                    if need <= 0:
                        break
                continue
            clips = self.store.oldest_clips(1)
            if not clips:
                # Said once, not every pass: a small disk (or other data on it) can keep the free space
                # under the floor for good; the gauges show it meanwhile.
                if not self._short_without_footage:
                    log.error("disk_full_no_footage_left", need_bytes=int(need))
                    self._short_without_footage = True
                break
            need -= max(self._delete(clips, report, space), clips[0].size_bytes)
            report.space_clips += 1
        if self.footage_bytes is not None:
            self.footage_bytes.set(self.store.total_bytes())
        if report.total:
            log.info(
                "retention_pass", expired_segments=report.expired_segments, expired_clips=report.expired_clips,
                space_segments=report.space_segments, space_clips=report.space_clips, freed_bytes=report.freed_bytes,
                disk_full=report.disk_full,
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
