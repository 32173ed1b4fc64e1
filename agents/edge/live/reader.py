"""One camera stream read once for all its viewers: PyAV demux in a thread, no decode, fanned out.

The first viewer of a camera's stream starts the reader; the last one leaving stops it, so a camera
nobody watches is not read for live view at all. Reading reuses the recorder's machinery
(:func:`agents.edge.video.ingest.run_sessions`: timeouts, classified failures, reconnect with backoff),
so a camera that drops out comes back for the viewers still there.

Why not aiortc's ``MediaPlayer(decode=False)`` + ``MediaRelay``: the player opens the camera when it is
built and cannot be restarted, and the relay never stops reading its source when its last consumer
leaves; neither starts a late viewer at a keyframe. What is left of them here is the same small job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import av

from agents.edge.live.errors import StreamUnavailable
from agents.edge.live.gop import DEFAULT_GOP_CACHE_BYTES, GopCache
from agents.edge.live.h264 import NAL_SPS, find_sps, nal_types, profile_level_id
from agents.edge.live.track import CameraTrack
from agents.edge.video.errors import FailureKind, StreamError
from agents.edge.video.ingest import StreamOptions, run_sessions
from agents.edge.video.status import StatusTracker
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.live")


@dataclasses.dataclass(frozen=True)
class LiveStreamOptions(StreamOptions):
    """The recorder's stream options, opened without probing: FFmpeg's stream analysis waits ~2 s for
    frames, while live view needs nothing it finds (the codec is in the SDP, the parameter sets come
    in-band or in the SDP, and nothing is decoded). Measured on the test camera: 2.3 s -> 0.06 s.

    And without ``nobuffer`` (the recorder no longer sets it either; popped in case): with it FFmpeg drops
    the packets it read while opening, the first being the keyframe a camera starts its stream with, so the
    first viewer waited a whole GOP for the next one. Time to first frame, cold, bench/live_view.py: p50 2.08 s -> 0.42 s."""

    def av_options(self) -> dict[str, str]:
        options = {**super().av_options(), "analyzeduration": "0", "probesize": "32"}
        options.pop("fflags", None)  # nobuffer
        return options


class CameraReader:
    """The shared read of one camera stream. ``camera`` names it in logs; ``url`` is never logged."""

    def __init__(self, camera: str, url: str, options: StreamOptions,
                 gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES) -> None:
        self.camera = camera
        self._url = url
        self._options = LiveStreamOptions(**dataclasses.asdict(options))
        self._status = StatusTracker(camera)
        self._tracks: set[CameraTrack] = set()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._profile: asyncio.Future[str] | None = None
        self._parameter_sets = b""  # the stream's SPS/PPS (Annex B), put before keyframes that lack them
        self._gop = GopCache(gop_cache_bytes)  # on the loop: a new viewer starts with it
        self.opens = 0  # camera connections made (a reader reconnecting counts again)
        self.width: int | None = None
        self.height: int | None = None
        self._log = log.bind(camera=camera)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def viewers(self) -> int:
        return len(self._tracks)

    def subscribe(self) -> CameraTrack:
        """A new viewer's track, starting with the current GOP when the camera is already read; starts
        reading the camera if nobody was watching."""
        track = CameraTrack()
        self._tracks.add(track)
        if self._thread is None:
            self._gop.clear()  # what a stopped read left (packets delivered after it stopped) is stale
            self._start()
        else:
            track.start_with(self._gop.packets)
        return track

    async def unsubscribe(self, track: CameraTrack) -> None:
        """The viewer left; the last one leaving stops the read (waits for the thread to finish)."""
        self._tracks.discard(track)
        track.end()
        if not self._tracks and self._thread is not None:
            await self._halt()

    async def profile_level_id(self) -> str:
        """The stream's H.264 ``profile-level-id`` (from its SPS), waiting for the camera to be opened."""
        assert self._profile is not None, "subscribe() first"
        timeout = self._options.open_timeout_s + self._options.stall_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(self._profile), timeout)
        except TimeoutError:
            raise StreamUnavailable(self.camera, f"no H.264 parameters from the camera within {timeout:g} s") from None

    async def close(self) -> None:
        for track in list(self._tracks):
            await self.unsubscribe(track)
        if self._thread is not None:
            await self._halt()

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._profile = self._loop.create_future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"live-{self.camera}", daemon=True)
        self._thread.start()
        self._log.info("live_reader_started")

    async def _halt(self) -> None:
        thread, stop = self._thread, self._stop
        self._thread = self._stop = None
        assert thread is not None and stop is not None
        stop.set()
        # The thread ends after the packet in flight (or its stall timeout), then closes the camera.
        await asyncio.to_thread(thread.join)
        self._gop.clear()
        if self._profile is not None and not self._profile.done():
            self._profile.cancel()
        self._log.info("live_reader_stopped")

    # -- the reader thread ------------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        run_sessions(self._url, self._status, self._options, stop, lambda c, s: self._session(c, s, stop),
                     on_failure=self._failed)

    def _session(self, container: av.container.InputContainer, stream: Any, stop: threading.Event) -> None:
        if stream.codec_context.name != "h264":
            raise StreamError(FailureKind.BAD_STREAM,
                              f"live view forwards H.264 only; the camera sends {stream.codec_context.name}")
        self.opens += 1
        self.width, self.height = stream.codec_context.width or None, stream.codec_context.height or None
        extradata = bytes(stream.codec_context.extradata or b"")
        if find_sps(extradata) is not None:
            self._parameter_sets = extradata
            self._call(self._set_profile, profile_level_id(find_sps(extradata) or b""))
        self._call(self._restart_tracks)
        first = True
        for packet in container.demux(stream):
            if stop.is_set():
                return
            if not packet.size:
                continue
            if first and packet.pts is None and packet.is_keyframe:
                # FFmpeg gives the packet it read while opening no timestamp. Its RTP timeline starts at 0
                # with the stream's first packet, this one: keep it, it is the keyframe viewers wait for.
                packet.pts = 0
            first = False
            if packet.pts is None:
                continue
            self._status.packet(packet.size)
            if packet.is_keyframe:
                packet = self._with_parameter_sets(packet)
            self._call(self._deliver, packet)

    def _with_parameter_sets(self, packet: av.Packet) -> av.Packet:
        data = bytes(packet)
        sps = find_sps(data)
        if sps is not None:
            self._call(self._set_profile, profile_level_id(sps))
            return packet
        if not self._parameter_sets or NAL_SPS in nal_types(data):
            return packet
        # A camera that sends SPS/PPS only in the SDP: a viewer joining here still needs them in-band.
        full = av.Packet(self._parameter_sets + data)
        full.pts, full.dts, full.time_base, full.is_keyframe = packet.pts, packet.dts, packet.time_base, True
        return full

    def _failed(self, error: Exception) -> None:
        self._log.warning("live_stream_failed", reason=str(error))

    def _call(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    # -- on the loop --------------------------------------------------------------------------------

    def _set_profile(self, plid: str) -> None:
        if self._profile is not None and not self._profile.done():
            self._profile.set_result(plid)

    def _restart_tracks(self) -> None:
        self._gop.clear()
        for track in self._tracks:
            track.restart()

    def _deliver(self, packet: av.Packet) -> None:
        self._gop.add(packet)
        for track in list(self._tracks):
            track.offer(packet)

