"""Reading RTSP streams with PyAV, and the reconnect machinery every reader of a camera shares.

:func:`run_sessions` is the loop both the recorder (packets) and :class:`~agents.edge.video.frames.
FrameReader` (decoded frames) run in their thread: open the stream, hand it to a session function,
and when anything goes wrong — refused, unauthorised, silent, stalled, ended, garbage — record a
:class:`~agents.edge.video.errors.StreamError` in the camera's :class:`~agents.edge.video.status.
StatusTracker`, wait an exponentially growing, jittered delay and try again. The delay is capped low
(``[recording] backoff_max_s``, 2 s by default): an attempt costs the camera one TCP connection, while
every second waited after it is back is a second of footage lost. Nothing a camera sends can end the
loop; only the ``stop`` event does.

Streams are opened without FFmpeg's ``nobuffer``, which throws away the packets read while the stream is
probed (~2 s, the keyframe a camera opens its stream with among them): recording and detection would
start two GOPs late after every connect. FFmpeg leaves those first packets without some timestamps:
:func:`timestamped` fills them in.

Failure reasons are built from FFmpeg's error text without the URL (FFmpeg's messages quote the URL,
credentials included), so a status or log line never carries a camera password.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import av.error

from agents.edge.config import RecordingSettings
from agents.edge.video.errors import FailureKind, StreamError
from agents.edge.video.status import StatusTracker
from guardian.runtime.backoff import Backoff
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.ingest")


_DEFAULTS = RecordingSettings()  # the [recording] section's defaults, written once (there)


@dataclass(frozen=True)
class StreamOptions:
    """How to open and watch a camera stream."""

    transport: str = _DEFAULTS.transport  # RTSP over TCP: no UDP loss, one connection through NAT and firewalls
    open_timeout_s: float = _DEFAULTS.open_timeout_s  # connect + DESCRIBE/SETUP/PLAY + first packets
    stall_timeout_s: float = _DEFAULTS.stall_timeout_s  # no packet for this long while streaming: stalled
    backoff_initial_s: float = _DEFAULTS.backoff_initial_s
    backoff_max_s: float = _DEFAULTS.backoff_max_s
    stable_after_s: float = 10.0  # a session that streamed this long resets the backoff

    @classmethod
    def from_settings(cls, recording: RecordingSettings) -> StreamOptions:
        """The ``[recording]`` section's reconnect and stall rules (the recorder's and the detector's)."""
        r = recording
        return cls(transport=r.transport, open_timeout_s=r.open_timeout_s, stall_timeout_s=r.stall_timeout_s,
                   backoff_initial_s=r.backoff_initial_s, backoff_max_s=r.backoff_max_s)

    def av_options(self) -> dict[str, str]:
        return {"rtsp_transport": self.transport, "allowed_media_types": "video"}


def classify(exc: BaseException, *, opening: bool, elapsed_s: float, options: StreamOptions) -> StreamError:
    """Turn a PyAV/FFmpeg exception into a :class:`StreamError` with a reason free of the URL."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    if isinstance(exc, StreamError):
        return exc
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return StreamError(FailureKind.UNAUTHORIZED, f"camera refused the credentials ({text})")
    if isinstance(exc, av.error.HTTPNotFoundError):
        return StreamError(FailureKind.NOT_FOUND, f"no stream at this path on the camera ({text})")
    if isinstance(exc, ConnectionRefusedError | av.error.ConnectionRefusedError):
        return StreamError(FailureKind.UNREACHABLE, "connection refused (nothing listening on the camera's port)")
    if isinstance(exc, av.error.ExitError) or (opening and elapsed_s >= options.open_timeout_s * 0.95):
        # PyAV's timeout interrupts FFmpeg with AVERROR_EXIT; while opening a silent peer it can also
        # surface as "invalid data" once the deadline passed.
        if opening:
            return StreamError(
                FailureKind.TIMEOUT, f"camera sent no stream within {options.open_timeout_s:g} s of connecting"
            )
        return StreamError(FailureKind.STALLED, f"no packet for {options.stall_timeout_s:g} s (stream stalled)")
    if isinstance(exc, EOFError | av.error.EOFError):
        return StreamError(FailureKind.ENDED, "camera closed the stream")
    if isinstance(exc, av.error.HTTPClientError | av.error.HTTPServerError | av.error.HTTPBadRequestError):
        return StreamError(FailureKind.BAD_STREAM, f"camera answered with an error ({text})")
    if isinstance(exc, av.error.InvalidDataError | av.error.DecoderNotFoundError | av.error.PatchWelcomeError):
        return StreamError(FailureKind.BAD_STREAM, f"unreadable stream ({text})")
    if isinstance(exc, OSError):
        kind = FailureKind.UNREACHABLE if opening else FailureKind.ENDED
        return StreamError(kind, f"network error ({text})")
    return StreamError(FailureKind.BAD_STREAM, f"unexpected error ({type(exc).__name__}: {text})")


def open_stream(url: str, options: StreamOptions) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``url`` and return the container and its video stream, or raise :class:`StreamError`."""
    started = time.monotonic()
    try:
        container = av.open(
            url, options=options.av_options(), timeout=(options.open_timeout_s, options.stall_timeout_s)
        )
    except Exception as exc:
        raise classify(exc, opening=True, elapsed_s=time.monotonic() - started, options=options) from None
    if not container.streams.video:
        container.close()
        raise StreamError(FailureKind.NO_VIDEO, "the stream has no video track")
    return container, container.streams.video[0]


OPENING_PACKETS_MAX = 256  # packets held for their timestamps at most (~10 s at 25 fps), then let through


def timestamped(packets: Iterable[av.Packet], stream: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """``packets`` of a session, with the timestamps FFmpeg leaves out of its first ones.

    FFmpeg gives the packet it read first (the keyframe a camera starts its stream with) no pts, and with
    B-frames the next few no dts. They are held until a packet carries both, then given the ones FFmpeg
    would have: dts one frame apart counting back from that packet's, and the pts-less keyframe the pts
    one frame before the earliest seen (the picture that opens a stream is shown first). Later packets
    pass untouched."""
    reorders = bool(stream.codec_context.has_b_frames)
    held: list[av.Packet] = []
    rest = iter(packets)
    for packet in rest:
        timed = packet.pts is not None and (packet.dts is not None or not reorders)
        if not timed and len(held) < OPENING_PACKETS_MAX:
            held.append(packet)
            continue
        if timed and held:
            _fill_opening(held, packet, stream)
        opening, held = held, []
        yield from opening
        yield packet
        break
    yield from held  # the stream ended while they waited
    yield from rest


def _fill_opening(held: list[av.Packet], timed: av.Packet, stream: av.video.stream.VideoStream) -> None:
    known = sorted({p.pts for p in (*held, timed) if p.pts is not None})
    steps = [b - a for a, b in itertools.pairwise(known)]
    rate, tb = stream.guessed_rate, stream.time_base
    frame = min(steps) if steps else (round(1 / (rate * tb)) if rate and tb else 1)  # one frame, in ticks
    last = timed.dts if timed.dts is not None else timed.pts
    assert last is not None  # a timed packet
    decoded = [last - frame * (len(held) - i) for i in range(len(held))]
    first_shown: int | None = known[0] - frame
    shown: list[int] = []
    for packet, dts in zip(held, decoded, strict=True):
        pts = packet.pts
        if pts is None:
            pts = dts if first_shown is None else max(first_shown, dts)
            first_shown = None  # one picture is shown first; any other gets its dts
        shown.append(pts)
    # A muxer refuses a packet shown before it is decoded: move the decoding times back if one would be.
    early = min(0, *(pts - dts for pts, dts in zip(shown, decoded, strict=True)))
    for packet, pts, dts in zip(held, shown, decoded, strict=True):
        packet.pts, packet.dts = pts, dts + early


Session = Callable[[av.container.InputContainer, Any], None]


def run_sessions(
    url: str,
    status: StatusTracker,
    options: StreamOptions,
    stop: threading.Event,
    session: Session,
    *,
    on_failure: Callable[[StreamError], None] | None = None,
    rng: random.Random | None = None,
) -> None:
    """Read ``url`` until ``stop`` is set, reconnecting forever.

    ``session(container, video_stream)`` consumes the stream; it returns when the stream ends or when
    ``stop`` is set, and may raise anything: it is classified, recorded in ``status``, and followed by a
    backoff delay and a new session. Only ``stop`` ends this function (it never raises for a stream).
    """
    # Equal jitter: half of each delay is fixed, so a flapping camera is never hammered.
    backoff = Backoff(options.backoff_initial_s, options.backoff_max_s, jitter="equal", rng=rng)
    camera_log = log.bind(camera=status.camera)
    while not stop.is_set():
        status.connecting()
        started = time.monotonic()
        error: StreamError | None = None
        try:
            container, stream = open_stream(url, options)
        except StreamError as exc:
            error = exc
        else:
            try:
                codec = stream.codec_context
                status.opened(codec.name, codec.width or None, codec.height or None)
                camera_log.info("stream_open", codec=codec.name, width=codec.width, height=codec.height)
                session(container, stream)
                if not stop.is_set():
                    error = StreamError(FailureKind.ENDED, "camera closed the stream")
            except Exception as exc:
                error = classify(exc, opening=False, elapsed_s=time.monotonic() - started, options=options)
                if error.kind == FailureKind.BAD_STREAM and not isinstance(exc, av.error.FFmpegError):
                    camera_log.error("session_crashed", error=error.reason, exc_info=exc)
            finally:
                try:
                    container.close()
                except Exception as exc:
                    camera_log.warning("close_failed", error=type(exc).__name__)
        if stop.is_set():
            break
        if time.monotonic() - started >= options.stable_after_s:
            backoff.reset()
        assert error is not None
        status.failed(error)
        if on_failure is not None:
            on_failure(error)
        delay = backoff.next_delay()
        camera_log.warning("stream_failed", failure=str(error.kind), reason=error.reason, retry_in_s=round(delay, 2))
        stop.wait(delay)
    status.stopped()
