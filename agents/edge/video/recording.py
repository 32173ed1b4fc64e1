"""Continuous recording by remux: the camera's packets copied, never re-encoded, into fixed-length
segments ``recordings/<camera>/<YYYY-MM-DD>/<HH>/<MM-SS.micro>.mp4`` (UTC), each indexed on completion.

- A segment starts at a keyframe and is cut at the first keyframe after ``segment_seconds`` of stream
  time, so every segment decodes on its own.
- Segments are fragmented MP4 (a fragment per GOP): if the process or the box dies mid-segment, the file
  is readable up to the last complete GOP, and start-up (:meth:`VideoStore.reconcile`) indexes it.
- Timestamps are rebased to start at 0 in each file. Wall-clock times come from the stream's own
  timestamps, anchored per segment at ``min(arrival - pts)`` (a packet cannot arrive before it was
  captured, so the smallest difference is the best estimate; it ignores the burst a camera sends on
  connect).
- A write error never stops the camera being read; recording resumes at the next keyframe and the
  error goes to ``on_write_error`` (retention frees space at once, see
  :mod:`agents.edge.video.retention`). On a **full disk** (ENOSPC/EDQUOT, or SQLite's "database or
  disk is full") the segment cut short is kept up to its last complete fragment
  (:func:`truncate_to_fragments`; dropped when it has none) and indexed. FFmpeg does not report every
  failed write (closing a file on a full disk can fail silently), so every completed file is checked to
  end with a complete fragment before it is indexed. A complete segment whose index row cannot be
  committed waits, on disk, to be indexed with the next one (or by :meth:`VideoStore.reconcile` at the
  next start). Other write errors drop the segment. The failure
  is logged once per episode (``recording_disk_full`` warning / ``segment_write_failed`` error),
  ``recording_recovered`` when a segment is indexed again; metrics count episodes, lost and salvaged
  segments, and ``guardian_edge_video_disk_full`` is 1 meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
from sqlalchemy.exc import SQLAlchemyError

from agents.edge.config import RecordingSettings
from agents.edge.video.errors import FailureKind, StreamError
from agents.edge.video.ingest import StreamOptions, run_sessions, timestamped
from agents.edge.video.mp4 import codec_description, read_segment, time_base, truncate_to_fragments
from agents.edge.video.segments import NewSegment, VideoStore, is_disk_full
from agents.edge.video.status import StatusTracker
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.recording")

SEGMENT_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
DISCONTINUITY_S = 5.0  # a timestamp jump larger than this (either way) starts a new segment
MAX_UNINDEXED = 4  # complete segments kept on disk while their rows cannot be committed
CUT_SHORT_FULL_BELOW = 1024 * 1024  # a file found cut short with less free space than this: disk full


class VideoMetrics:
    """Per-camera ingest and recording metrics (``guardian_edge_video_*``)."""

    def __init__(self, metrics: AgentMetrics) -> None:
        m = metrics
        self.packets = m.counter("video", "packets_total", "Video packets received.", ("camera",))
        self.bytes = m.counter("video", "received_bytes_total", "Video bytes received.", ("camera",))
        self.reconnects = m.counter("video", "reconnects_total", "Stream failures followed by a reconnect.", ("camera", "failure"))
        self.streaming = m.gauge("video", "streaming", "1 while the camera is streaming.", ("camera",))
        self.segments = m.counter("video", "segments_total", "Segments completed and indexed.", ("camera",))
        self.segment_write = m.histogram(
            "video", "segment_write_seconds", "Time to finalise a segment (trailer, fsync, index).", ("camera",),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.lag = m.gauge("video", "recording_lag_seconds", "How far behind the camera the newest written packet is.", ("camera",))
        self.write_errors = m.counter(
            "video", "write_errors_total", "Segment writes that failed (disk full, I/O); see segments_salvaged_total.", ("camera",)
        )
        self.salvaged = m.counter(
            "video", "segments_salvaged_total", "Segments cut short by a full disk, kept up to their last complete fragment.", ("camera",)
        )
        self.disk_full = m.gauge("video", "disk_full", "1 while a camera's segments fail for lack of disk space.", ("camera",))
        self.disk_full_episodes = m.counter(
            "video", "disk_full_episodes_total", "Times recording met a full disk (once per episode, until a segment is indexed again).",
            ("camera",),
        )
        self.disk_bytes = m.gauge("video", "disk_bytes", "Bytes of indexed recordings on disk.", ("camera",))

    def init_camera(self, camera: str) -> None:
        for metric in (self.packets, self.bytes, self.streaming, self.segments, self.lag, self.write_errors, self.disk_bytes,
                       self.salvaged, self.disk_full, self.disk_full_episodes):
            metric.labels(camera)
        self.segment_write.labels(camera)
        for kind in FailureKind:
            self.reconnects.labels(camera, str(kind))


_DEFAULTS = RecordingSettings()  # the [recording] section's defaults, written once (there)


@dataclass(frozen=True)
class RecordingOptions:
    segment_seconds: float = _DEFAULTS.segment_seconds
    stream: StreamOptions = field(default_factory=StreamOptions)
    fsync: bool = _DEFAULTS.fsync

    @classmethod
    def from_settings(cls, recording: RecordingSettings) -> RecordingOptions:
        return cls(segment_seconds=recording.segment_seconds, fsync=recording.fsync,
                   stream=StreamOptions.from_settings(recording))


class SegmentWriter:
    """Writes one camera's packets into segments (used by one thread)."""

    def __init__(
        self,
        camera: str,
        store: VideoStore,
        options: RecordingOptions,
        metrics: VideoMetrics | None = None,
        on_write_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.camera = camera
        self.store = store
        self.options = options
        self.metrics = metrics
        self.on_write_error = on_write_error
        self._in: av.video.stream.VideoStream | None = None
        self._out: av.container.OutputContainer | None = None
        self._out_stream: av.video.stream.VideoStream | None = None
        # The segment in progress (set when it opens at a keyframe).
        self._seg_first_pts = self._seg_base_dts = self._seg_end_pts = self._seg_frames = 0
        self._seg_offset = float("inf")
        self.segments_written = 0
        self.unindexed: list[NewSegment] = []  # complete files whose rows could not be committed yet
        self._failing: str | None = None  # "disk_full" or "write_error" during an episode of failures
        self._failing_since = 0.0
        self._episode_lost = self._episode_salvaged = 0

    # session ----------------------------------------------------------------------------------------
    def begin(self, stream: av.video.stream.VideoStream) -> None:
        self._in = stream
        self._tb = time_base(stream)
        self._no_reorder = not stream.codec_context.has_b_frames
        self._last_dts: int | None = None
        self._session_offset = float("inf")
        self._codec = codec_description(stream)

    def end(self) -> None:
        """The session ended: complete and index the segment in progress."""
        self._finish()
        self._in = None
        if self.unindexed:
            try:
                self._index_unindexed()
            except SQLAlchemyError:
                # Left on disk, complete: the next start's VideoStore.reconcile indexes them.
                log.warning("segments_left_unindexed", camera=self.camera, segments=len(self.unindexed))

    # packets ----------------------------------------------------------------------------------------
    def write(self, packet: av.Packet, arrival: float) -> None:
        pts, dts = packet.pts, packet.dts
        if dts is None and pts is not None and self._no_reorder:
            dts = pts
        if dts is None and pts is not None and self._last_dts is not None:
            dts = self._last_dts + 1 if self._last_dts + 1 <= pts else None
        if pts is None or dts is None:
            return  # only at a session's start, before the first timestamped keyframe
        if self._last_dts is not None:
            jump = (dts - self._last_dts) * self._tb
            if jump > DISCONTINUITY_S or jump < -DISCONTINUITY_S:
                log.warning("timestamp_discontinuity", camera=self.camera, jump_s=round(jump, 3))
                self._finish()
                self._last_dts = None
            elif dts <= self._last_dts:
                dts = self._last_dts + 1
                pts = max(pts, dts)
        pts_s = pts * self._tb
        self._session_offset = min(self._session_offset, arrival - pts_s)
        if self.metrics is not None:
            self.metrics.lag.labels(self.camera).set(max(0.0, arrival - pts_s - self._session_offset))
        if packet.is_keyframe and (self._out is None or (pts - self._seg_first_pts) * self._tb >= self.options.segment_seconds):
            self._finish()
            self._open(pts, dts, arrival)
        if self._out is None:
            return  # waiting for a keyframe
        self._last_dts = dts
        self._seg_offset = min(self._seg_offset, arrival - pts_s)
        end = pts + (packet.duration or 0)
        self._seg_end_pts = max(self._seg_end_pts, end)
        self._seg_frames += 1
        packet.pts, packet.dts = pts - self._seg_base_dts, dts - self._seg_base_dts
        packet.stream = self._out_stream
        try:
            self._out.mux(packet)
        except (OSError, av.error.FFmpegError) as exc:
            self._abort(exc)

    # segment files ----------------------------------------------------------------------------------
    def _open(self, pts: int, dts: int, arrival: float) -> None:
        assert self._in is not None
        start_estimate = arrival  # refined at completion from the segment's packets
        path = self.store.segment_path(self.camera, start_estimate)
        self._seg_offset = float("inf")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = av.open(str(path), "w", format="mp4", options={"movflags": SEGMENT_MOVFLAGS})
            self._out_stream = self._out.add_stream_from_template(self._in)
        except (OSError, av.error.FFmpegError) as exc:
            self._path = path
            self._out = None
            self._abort(exc)
            return
        self._path = path
        self._seg_first_pts = pts
        self._seg_base_dts = dts
        self._seg_end_pts = pts
        self._seg_offset = float("inf")
        self._seg_frames = 0

    def _finish(self) -> None:
        out, self._out = self._out, None
        if out is None:
            return
        started = time.perf_counter()
        try:
            out.close()
            if self.options.fsync:
                _fsync(self._path)
            size = self._path.stat().st_size
            # FFmpeg does not always report a failed write (a full disk met while closing goes unsaid):
            # a file that does not end with a complete fragment was cut short.
            if self._seg_frames and truncate_to_fragments(self._path, check_only=True) != size:
                raise _cut_short(self._path)
        except (OSError, av.error.FFmpegError) as exc:
            self._abort(exc, closed=True)
            return
        if self._seg_frames == 0:
            self._path.unlink(missing_ok=True)
            return
        start_ts = self._seg_offset + self._seg_first_pts * self._tb
        end_ts = self._seg_offset + self._seg_end_pts * self._tb
        indexed = self._index(NewSegment(self.camera, self._path, start_ts, end_ts, size, self._codec, self._seg_frames))
        if indexed and self.metrics is not None:
            self.metrics.segment_write.labels(self.camera).observe(time.perf_counter() - started)

    def _index(self, new: NewSegment) -> bool:
        """Index ``new`` (after any segment still waiting); when the database cannot commit, ``new``
        waits on disk for the next attempt. True when everything is indexed."""
        self.unindexed.append(new)
        if len(self.unindexed) > MAX_UNINDEXED:
            dropped = self.unindexed.pop(0)
            dropped.path.unlink(missing_ok=True)
            self._episode_lost += 1
        try:
            self._index_unindexed()
        except SQLAlchemyError as exc:
            self._failed(exc, lost=False)
            return False
        self._recovered()
        return True

    def _index_unindexed(self) -> None:
        """Index the waiting segments, oldest first (raises when the database cannot commit)."""
        while self.unindexed:
            self.store.add_segment(self.unindexed[0])
            self.unindexed.pop(0)
            self.segments_written += 1
            if self.metrics is not None:
                self.metrics.segments.labels(self.camera).inc()

    def _abort(self, exc: BaseException, closed: bool = False) -> None:
        """A write failed: close the segment, keep its complete fragments on a full disk (else drop the
        file), report the failure; recording resumes at the next keyframe."""
        out, self._out = self._out, None
        if out is not None and not closed:
            with contextlib.suppress(OSError, av.error.FFmpegError):
                out.close()
        path = getattr(self, "_path", None)
        salvaged: NewSegment | None = None
        if path is not None and is_disk_full(exc):
            salvaged = self._salvage(Path(path))
        if salvaged is None and path is not None:
            with contextlib.suppress(OSError):
                Path(path).unlink(missing_ok=True)
        self._failed(exc, lost=salvaged is None)
        if salvaged is not None:
            self._episode_salvaged += 1
            if self.metrics is not None:
                self.metrics.salvaged.labels(self.camera).inc()
            try:
                self.unindexed.append(salvaged)
                self._index_unindexed()
            except SQLAlchemyError:
                pass  # waits for the next segment (the disk-full is already reported)

    def _salvage(self, path: Path) -> NewSegment | None:
        """The part of ``path`` made of complete fragments, as a segment (``None`` when nothing usable)."""
        offset = self._seg_offset
        if offset == float("inf"):
            return None  # no packet of this segment was written
        try:
            if not truncate_to_fragments(path):
                return None
            if self.options.fsync:
                _fsync(path)
            found = read_segment(path)
            size = path.stat().st_size
        except OSError:
            return None
        if found is None:
            return None
        span, codec = found
        start_ts = offset + self._seg_first_pts * self._tb
        return NewSegment(self.camera, path, start_ts, start_ts + span.duration_s, size, codec, span.frames)

    def _failed(self, exc: BaseException, lost: bool = True) -> None:
        """Count and report a write failure; log only the first of an episode."""
        kind = "disk_full" if is_disk_full(exc) else "write_error"
        error = getattr(exc, "strerror", None) or str(getattr(exc, "orig", "")) or type(exc).__name__
        if lost:
            self._episode_lost += 1
        if self._failing != kind:  # a new episode (or a different failure within one)
            if self._failing is None:
                self._failing_since = time.monotonic()
            self._failing = kind
            if kind == "disk_full":
                log.warning("recording_disk_full", camera=self.camera, error=error, action="freeing oldest footage")
            else:
                log.error("segment_write_failed", camera=self.camera, error=error)
            if self.metrics is not None and kind == "disk_full":
                self.metrics.disk_full_episodes.labels(self.camera).inc()
                self.metrics.disk_full.labels(self.camera).set(1)
        else:
            log.debug("segment_write_failed_again", camera=self.camera, error=error)
        if self.metrics is not None:
            self.metrics.write_errors.labels(self.camera).inc()
        if self.on_write_error is not None:
            self.on_write_error(exc)

    def _recovered(self) -> None:
        if self._failing is None:
            return
        log.info(
            "recording_recovered", camera=self.camera, failure=self._failing,
            after_s=round(time.monotonic() - self._failing_since, 1),
            segments_lost=self._episode_lost, segments_salvaged=self._episode_salvaged,
        )
        self._failing = None
        self._episode_lost = self._episode_salvaged = 0
        if self.metrics is not None:
            self.metrics.disk_full.labels(self.camera).set(0)


class CameraRecorder:
    """Records one camera: a thread that reads the stream (reconnecting forever) into a SegmentWriter."""

    def __init__(
        self,
        camera: str,
        url: str,
        store: VideoStore,
        options: RecordingOptions,
        metrics: VideoMetrics | None = None,
        on_write_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.camera = camera
        self._url = url
        self.options = options
        self.metrics = metrics
        self.status = StatusTracker(camera)
        self.writer = SegmentWriter(camera, store, options, metrics, on_write_error)
        self.stop_event = threading.Event()
        self.last_packet_monotonic = 0.0
        self._thread: threading.Thread | None = None
        if metrics is not None:
            metrics.init_camera(camera)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"record-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.options.stream.stall_timeout_s + 5)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        run_sessions(self._url, self.status, self.options.stream, self.stop_event, self._session, on_failure=self._failed)

    def _failed(self, error: StreamError) -> None:
        if self.metrics is not None:
            self.metrics.reconnects.labels(self.camera, str(error.kind)).inc()
            self.metrics.streaming.labels(self.camera).set(0)

    def _session(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        self.writer.begin(stream)
        packets = bytes_ = None
        if self.metrics is not None:
            packets = self.metrics.packets.labels(self.camera)
            bytes_ = self.metrics.bytes.labels(self.camera)
            self.metrics.streaming.labels(self.camera).set(1)
        try:
            for packet in timestamped(container.demux(stream), stream):
                if self.stop_event.is_set():
                    return
                size = packet.size
                if size == 0:
                    continue
                self.last_packet_monotonic = time.monotonic()
                self.status.packet(size)
                if packets is not None and bytes_ is not None:
                    packets.inc()
                    bytes_.inc(size)
                self.writer.write(packet, time.time())
        finally:
            self.writer.end()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_short(path: Path) -> OSError:
    """The error for a segment file found cut short without FFmpeg reporting why: a full disk when the
    filesystem is (nearly) full, an I/O error otherwise."""
    try:
        full = shutil.disk_usage(path.parent).free < CUT_SHORT_FULL_BELOW
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    return OSError(code, f"{os.strerror(code)} (segment cut short)", str(path))
