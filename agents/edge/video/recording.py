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
- A write error (disk full, I/O error) drops the segment in progress, asks retention to free space at
  once, and recording resumes at the next keyframe: the camera keeps being read, always.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import av

from agents.edge.video.errors import FailureKind, StreamError
from agents.edge.video.ingest import StreamOptions, run_sessions
from agents.edge.video.segments import NewSegment, VideoStore
from agents.edge.video.status import StatusTracker
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.recording")

SEGMENT_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
DISCONTINUITY_S = 5.0  # a timestamp jump larger than this (either way) starts a new segment


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
        self.write_errors = m.counter("video", "write_errors_total", "Segments lost to write errors (disk full, I/O).", ("camera",))
        self.disk_bytes = m.gauge("video", "disk_bytes", "Bytes of indexed recordings on disk.", ("camera",))

    def init_camera(self, camera: str) -> None:
        for metric in (self.packets, self.bytes, self.streaming, self.segments, self.lag, self.write_errors, self.disk_bytes):
            metric.labels(camera)
        self.segment_write.labels(camera)
        for kind in FailureKind:
            self.reconnects.labels(camera, str(kind))


@dataclass(frozen=True)
class RecordingOptions:
    segment_seconds: float = 10.0
    stream: StreamOptions = field(default_factory=StreamOptions)
    fsync: bool = True


def codec_description(stream: av.video.stream.VideoStream) -> str:
    ctx = stream.codec_context
    profile = f" {ctx.profile}" if ctx.profile else ""
    return f"{ctx.name}{profile} {ctx.width}x{ctx.height}"[:32]


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
        self.segments_written = 0

    # session ----------------------------------------------------------------------------------------
    def begin(self, stream: av.video.stream.VideoStream) -> None:
        self._in = stream
        self._tb = float(stream.time_base)
        self._no_reorder = not stream.codec_context.has_b_frames
        self._last_dts: int | None = None
        self._session_offset = float("inf")
        self._codec = codec_description(stream)

    def end(self) -> None:
        """The session ended: complete and index the segment in progress."""
        self._finish()
        self._in = None

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
                fd = os.open(self._path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            size = self._path.stat().st_size
        except (OSError, av.error.FFmpegError) as exc:
            self._out = None
            self._abort(exc, closed=True)
            return
        if self._seg_frames == 0:
            self._path.unlink(missing_ok=True)
            return
        start_ts = self._seg_offset + self._seg_first_pts * self._tb
        end_ts = self._seg_offset + self._seg_end_pts * self._tb
        self.store.add_segment(
            NewSegment(self.camera, self._path, start_ts, end_ts, size, self._codec, self._seg_frames)
        )
        self.segments_written += 1
        if self.metrics is not None:
            self.metrics.segment_write.labels(self.camera).observe(time.perf_counter() - started)
            self.metrics.segments.labels(self.camera).inc()

    def _abort(self, exc: BaseException, closed: bool = False) -> None:
        """A write failed: drop this segment (file and all), tell retention, resume at the next keyframe."""
        out, self._out = self._out, None
        if out is not None and not closed:
            try:
                out.close()
            except (OSError, av.error.FFmpegError):
                pass
        path = getattr(self, "_path", None)
        if path is not None:
            try:
                Path(path).unlink(missing_ok=True)
            except OSError:
                pass
        log.error("segment_write_failed", camera=self.camera, error=getattr(exc, "strerror", None) or type(exc).__name__)
        if self.metrics is not None:
            self.metrics.write_errors.labels(self.camera).inc()
        if self.on_write_error is not None:
            self.on_write_error(exc)


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
            for packet in container.demux(stream):
                if self.stop_event.is_set():
                    return
                size = packet.size
                if size == 0:
                    continue
                self.last_packet_monotonic = time.monotonic()
                self.status.packet(size)
                if packets is not None:
                    packets.inc()
                    bytes_.inc(size)
                self.writer.write(packet, time.time())
        finally:
            self.writer.end()


def probe_segment(path: Path) -> NewSegment | None:
    """Read a segment file left without an index row (after a crash); ``None`` if it has no frame.

    The start comes from the file name (``recordings/<camera>/<date>/<hour>/<MM-SS.micro>.mp4``)."""
    try:
        camera, day, hour = path.parts[-4], path.parts[-3], path.parts[-2]
        minute_second, micro = path.stem.split(".")
        start = datetime.strptime(f"{day} {hour} {minute_second}.{micro} +0000", "%Y-%m-%d %H %M-%S.%f %z")
    except (ValueError, IndexError):
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base)
            first = last = None
            frames = 0
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                frames += 1
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + (packet.duration or 0)
                last = end if last is None else max(last, end)
            codec = codec_description(stream)
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    if frames == 0 or first is None or last is None:
        return None
    start_ts = start.timestamp()
    return NewSegment(camera, path, start_ts, start_ts + (last - first) * tb, path.stat().st_size, codec, frames)
