"""Decoded frames for detection, at a chosen rate, without decoding more than needed.

Usage (blocking, in a thread of the detector process)::

    reader = FrameReader("front", detect_url, fps=2.0)
    for frame in reader:              # reconnects forever; ends after reader.close()
        image = frame.bgr()           # numpy uint8 H×W×3, BGR (converted only for yielded frames)
        ...
    reader.status()                   # CameraStatus: connecting / streaming / failed + reason

or from asyncio: ``async for frame in reader.aiter(): ...`` (a thread reads; a small queue drops the
oldest frame when the consumer is slower than ``fps``, so detection always sees the newest frame).

How the cost is kept down (measured in ``bench/edge_recording.py``, see the figures there):

- every packet must still be decoded for frames between keyframes (H.264 frames depend on each other),
  but colour conversion to BGR, the expensive part per frame after decoding, is done only for the frames
  yielded, and scaled in the same swscale pass when ``size`` is given;
- when the wanted rate is at or below the camera's keyframe rate (``fps ≤ 1 / GOP duration``), the
  decoder is told to skip every non-keyframe (``skip_frame = NONKEY``): only keyframes are decoded at
  all, which is a fraction of the work (a GOP of 20 at 10 fps: 1 frame in 20);
- ``keyframes_only=True`` forces that mode whatever the rate;
- ``decode`` (:mod:`agents.edge.video.decode_path`) may hand the decoding to the GPU (Intel Quick Sync or
  VAAPI through PyAV's ``HWAccel``); when that decoder cannot be opened or fails, the reader says so once
  and decodes in software from then on (the next keyframe), for as long as it runs: no flapping.

The reconnect, stall detection and status are those of :mod:`agents.edge.video.ingest`, the same the
recorder uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import av
import numpy as np
from av.codec.hwaccel import HWAccel

from agents.edge.video.decode_path import SOFTWARE, DecodeChoice
from agents.edge.video.errors import HardwareDecodeError
from agents.edge.video.ingest import StreamOptions, run_sessions, timestamped
from agents.edge.video.mp4 import time_base
from agents.edge.video.status import CameraStatus, StatusTracker
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.frames")


@dataclass
class Frame:
    """One decoded frame. ``time`` is the wall-clock (UTC) moment it was captured, derived from the
    stream's timestamps anchored at the smallest ``arrival - pts`` seen so far (never after the frame was
    read); ``pts_s`` is the stream time in seconds."""

    camera: str
    video_frame: av.VideoFrame
    time: datetime
    pts_s: float
    keyframe: bool
    size: tuple[int, int] | None = None  # (width, height) to scale to in bgr(); None keeps the source's
    _bgr: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return self.size[0] if self.size else self.video_frame.width

    @property
    def height(self) -> int:
        return self.size[1] if self.size else self.video_frame.height

    def bgr(self) -> np.ndarray:
        """The frame as a ``uint8`` array ``(height, width, 3)`` in BGR order (OpenCV's), cached."""
        if self._bgr is None:
            if self.size:
                converted = self.video_frame.reformat(width=self.size[0], height=self.size[1], format="bgr24")
            else:
                converted = self.video_frame.reformat(format="bgr24")
            self._bgr = converted.to_ndarray()
        return self._bgr


class FrameReader:
    """Yield decoded frames of ``url`` at about ``fps`` per second, reconnecting forever.

    ``fps`` is an upper bound: frames are picked by stream time, at most one per ``1/fps`` seconds.
    ``size=(w, h)`` scales in the BGR conversion. ``keyframes_only`` decodes keyframes only. ``decode`` is
    the decoder to use (software unless given); ``on_decode`` is told the path in use at once and again if
    the hardware one is given up.
    """

    def __init__(
        self,
        camera: str,
        url: str,
        fps: float = 5.0,
        *,
        size: tuple[int, int] | None = None,
        keyframes_only: bool = False,
        options: StreamOptions | None = None,
        decode: DecodeChoice = SOFTWARE,
        on_decode: Callable[[DecodeChoice], None] | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.camera = camera
        self.decode = decode  # the path in use (software once a hardware decoder failed)
        self._on_decode = on_decode
        if decode.hardware or decode.requested != "software":
            log.info("decode_path", camera=camera, requested=decode.requested, path=decode.path,
                     device=decode.device, reason=decode.reason)
        if on_decode is not None:
            on_decode(decode)
        self.fps = fps
        self.size = size
        self.keyframes_only = keyframes_only
        self.options = options or StreamOptions()
        self._url = url
        self._stop = threading.Event()
        self._status = StatusTracker(camera)
        self.decoded_frames = 0  # frames the decoder produced (for measurements)
        self.yielded_frames = 0

    def status(self) -> CameraStatus:
        return self._status.snapshot()

    def close(self) -> None:
        """Stop reading; iteration ends within the stall timeout."""
        self._stop.set()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[Frame]:
        return self._generate()

    def _generate(self) -> Iterator[Frame]:
        # run_sessions takes a callback; to yield from inside it, run it in a helper thread and pass
        # frames through a bounded queue (size 1 + blocking put: no frame is read ahead of the consumer
        # by more than one, so backpressure reaches the socket and nothing piles up in memory).
        handoff: queue.Queue[Frame | BaseException | None] = queue.Queue(maxsize=1)

        def session(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
            for frame in self._frames(container, stream):
                while not self._stop.is_set():
                    try:
                        handoff.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return

        def reader() -> None:
            try:
                run_sessions(self._url, self._status, self.options, self._stop, session)
            finally:
                handoff.put(None)

        thread = threading.Thread(target=reader, name=f"frames-{self.camera}", daemon=True)
        thread.start()
        try:
            while True:
                item = handoff.get()
                if item is None:
                    return
                assert isinstance(item, Frame)
                self.yielded_frames += 1
                yield item
        finally:
            self._stop.set()
            # Unblock a pending put, then let the reader finish (bounded by the stall timeout).
            with contextlib.suppress(queue.Empty):
                handoff.get_nowait()
            thread.join(timeout=self.options.stall_timeout_s + 2)

    def _decoder(self, stream: av.video.stream.VideoStream) -> av.video.codeccontext.VideoCodecContext:
        """The decoder for this session: the hardware one chosen, or the stream's own (software)."""
        if self.decode.hardware:
            try:
                return open_hw_decoder(stream, self.decode)
            except HardwareDecodeError as exc:
                return self._software(stream, exc.reason)
        return _stream_decoder(stream)

    def _software(self, stream: av.video.stream.VideoStream, reason: str) -> av.video.codeccontext.VideoCodecContext:
        """Give the hardware decoder up for good (this reader's life): said once, software from now on."""
        log.warning("hardware_decode_failed", camera=self.camera, path=self.decode.path, device=self.decode.device,
                    reason=reason, now="software")
        self.decode = self.decode.software(f"{self.decode.path} failed: {reason}")
        if self._on_decode is not None:
            self._on_decode(self.decode)
        return _stream_decoder(stream)

    def _frames(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[Frame]:
        codec = self._decoder(stream)
        tb = time_base(stream)
        interval = 1.0 / self.fps
        keyframes_only = self.keyframes_only
        if keyframes_only:
            codec.skip_frame = "NONKEY"
        # Wall time minus stream time, the smallest seen: a packet cannot arrive before it was captured,
        # and the packets buffered while the stream was opened arrive late, in a burst (as the recorder's).
        offset = float("inf")
        last_time = float("-inf")
        last_key_pts: float | None = None
        next_pts = float("-inf")
        resync = False  # software took over from a failed hardware decoder: from the next keyframe
        for packet in timestamped(container.demux(stream), stream):
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue
            self._status.packet(packet.size)
            pts_s = (packet.pts if packet.pts is not None else packet.dts or 0) * tb
            offset = min(offset, time.time() - pts_s)
            if packet.is_keyframe:
                if last_key_pts is not None and not keyframes_only:
                    gop_s = pts_s - last_key_pts
                    if gop_s > 0 and interval >= gop_s:
                        # The wanted rate is no more than one frame per GOP: decode keyframes only.
                        keyframes_only = True
                        codec.skip_frame = "NONKEY"
                last_key_pts = pts_s
                resync = False
            elif keyframes_only or resync:
                continue  # not even handed to the decoder
            try:
                frames = codec.decode(packet)
            except Exception as exc:
                if codec is stream.codec_context:
                    raise  # software decoding's errors are the stream's (run_sessions classifies them)
                codec = self._software(stream, f"decoding: {type(exc).__name__}: {exc}")
                if keyframes_only:
                    codec.skip_frame = "NONKEY"
                # A fresh decoder given a packet mid-GOP lacks its references (H.264 waits by itself, HEVC may
                # refuse it): software starts at the next keyframe unless this packet is one.
                resync = not packet.is_keyframe
                frames = [] if resync else codec.decode(packet)
            for frame in frames:
                self.decoded_frames += 1
                frame_pts = frame.pts * tb if frame.pts is not None else pts_s
                if frame_pts + 1e-6 < next_pts:
                    continue
                # A grid of 1/fps steps in stream time; after a gap it restarts from this frame.
                next_pts = next_pts + interval if frame_pts - next_pts < interval else frame_pts + interval
                # The estimate only falls while the opening burst is read: keep the times in order.
                last_time = max(last_time, offset + frame_pts)
                captured = datetime.fromtimestamp(last_time, UTC)
                yield Frame(self.camera, frame, captured, frame_pts, bool(frame.key_frame), self.size)

    async def aiter(self, max_queue: int = 2) -> AsyncIterator[Frame]:
        """Async iteration: frames read in a thread; when the consumer lags, the oldest queued frame is
        dropped so the newest is always next. Ends after :meth:`close`."""
        loop = asyncio.get_running_loop()
        frames: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=max_queue)

        def offer(item: Frame | None) -> None:
            if frames.full():
                frames.get_nowait()
            frames.put_nowait(item)

        def pump() -> None:
            try:
                for frame in self:
                    loop.call_soon_threadsafe(offer, frame)
            finally:
                loop.call_soon_threadsafe(offer, None)

        thread = threading.Thread(target=pump, name=f"frames-async-{self.camera}", daemon=True)
        thread.start()
        try:
            while (item := await frames.get()) is not None:
                yield item
        finally:
            self.close()
            await asyncio.to_thread(thread.join, self.options.stall_timeout_s + 3)


def _stream_decoder(stream: av.video.stream.VideoStream) -> av.video.codeccontext.VideoCodecContext:
    """The container's own (software) decoder for ``stream``, on FFmpeg's threads."""
    codec = stream.codec_context
    codec.thread_type = "AUTO"
    return codec


def open_hw_decoder(stream: av.video.stream.VideoStream, choice: DecodeChoice) -> av.video.codeccontext.VideoCodecContext:
    """A decoder for ``stream`` on ``choice``'s device (PyAV's ``HWAccel``, software fallback allowed inside
    FFmpeg for what the device cannot decode), or :class:`HardwareDecodeError` saying why not.

    Made beside the container's own decoder rather than through ``av.open(hwaccel=…)``: QSV decodes with
    FFmpeg's ``h264_qsv``/``hevc_qsv`` decoders (the native H.264 decoder has no QSV hwaccel, so ``av.open``
    would quietly decode in software), and a device that will not open is seen here, not as a failed stream.
    """
    source = stream.codec_context
    path = choice.path
    name = f"{source.name}_qsv" if path == "qsv" else source.name
    accel = HWAccel(path, device=choice.device, allow_software_fallback=True)
    try:
        decoder = decoder_like(source, name, accel)
    except Exception as exc:  # no such decoder in this FFmpeg (hevc_qsv…), or the device failed
        raise HardwareDecodeError(path, f"{name}: {type(exc).__name__}: {exc}") from None
    if not decoder.is_hwaccel:
        # PyAV quietly decodes in software when the device will not open: open it again to learn why.
        try:
            accel.create(av.Codec(name, "r"))
        except Exception as exc:
            # ENOSYS for QSV: FFmpeg on Linux opens QSV over a VAAPI device, and this FFmpeg has no VAAPI.
            hint = " (QSV needs an FFmpeg built with VAAPI)" if path == "qsv" and getattr(exc, "errno", 0) == errno.ENOSYS else ""
            raise HardwareDecodeError(path, f"{path} device {choice.device} did not open: {exc}{hint}") from None
        raise HardwareDecodeError(path, f"{name} has no {path} configuration")
    return decoder


def decoder_like(source: av.video.codeccontext.VideoCodecContext, name: str,
                 hwaccel: HWAccel | None = None) -> av.video.codeccontext.VideoCodecContext:
    """A new decoder ``name`` for the stream ``source`` (the container's decoder) decodes, on ``hwaccel``."""
    decoder = av.CodecContext.create(name, "r", hwaccel=hwaccel)
    assert isinstance(decoder, av.video.codeccontext.VideoCodecContext)
    decoder.extradata = source.extradata  # SPS/PPS (avcC from MP4, Annex B from RTSP's SDP)
    decoder.width, decoder.height = source.width, source.height
    return decoder
