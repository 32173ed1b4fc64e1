"""Clip assembly: one faststart H.264 MP4 out of the recorded segments covering a time span.

``assemble_clip(store, camera, start, end, out_path, pre_roll=…, post_roll=…)`` remuxes (packet copy,
no re-encode) the segments overlapping ``[start - pre_roll, end + post_roll)``:

- the clip begins at the last keyframe at or before the span's start (so it decodes from its first
  frame: up to one GOP earlier than asked) and ends with the last frame before the span's end (cut in
  decode order, so every written frame has its references);
- segments of one recording session join seamlessly (timestamps continue); a gap (camera outage)
  stays a gap in time;
- the file is written under a temporary name, read back (codec, frame count, duration, the first frame
  decoded) and only then renamed into place; :class:`ClipInfo` carries what was verified;
- with ``register=True`` the clip is indexed as event footage, which retention manages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import av

from agents.edge.db.tables import Segment
from agents.edge.video.errors import ClipError
from agents.edge.video.mp4 import scan_video
from agents.edge.video.segments import VideoStore, from_ts, to_ts
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.clips")

CONTIGUOUS_GAP_S = 1.0  # segments closer than this are one recording session and join seamlessly


@dataclass(frozen=True)
class ClipInfo:
    """A clip as read back from disk."""

    camera: str
    path: Path
    start: datetime  # wall time of the first frame
    end: datetime  # wall time after the last frame
    duration_s: float  # from the file's own timestamps
    frames: int
    codec: str
    width: int
    height: int
    size_bytes: int
    segments: int  # how many recorded segments it was cut from


def _ts(value: int | None) -> int:
    """A timestamp of a packet already checked to have one."""
    assert value is not None
    return value


def _video_desc(stream: av.video.stream.VideoStream) -> tuple[str, int, int]:
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height


def verify_clip(path: Path) -> tuple[str, int, int, int, float]:
    """Read ``path`` back: ``(codec, width, height, frames, duration_s)``; decodes the first frame."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded_first = False

            def decode_first(packet: av.Packet) -> None:
                nonlocal decoded_first
                if not decoded_first:
                    decoded_first = bool(stream.codec_context.decode(packet))

            span = scan_video(container, stream, decode_first)
            if not decoded_first:
                for _ in stream.codec_context.decode(None):
                    decoded_first = True
                    break
            codec, width, height = _video_desc(stream)
    except (av.error.FFmpegError, IndexError) as exc:
        raise ClipError("?", f"clip does not read back ({type(exc).__name__})") from exc
    if span is None or not decoded_first:
        raise ClipError("?", "clip has no decodable frame")
    return codec, width, height, span.frames, span.duration_s


def assemble_clip(
    store: VideoStore,
    camera: str,
    start: datetime | float,
    end: datetime | float,
    out_path: Path,
    pre_roll: float | timedelta = 0.0,
    post_roll: float | timedelta = 0.0,
    *,
    register: bool = True,
) -> ClipInfo:
    """Assemble the footage of ``camera`` for ``[start - pre_roll, end + post_roll)`` into ``out_path``
    (an H.264 MP4 with the index at the front). Raises :class:`ClipError` when there is no footage for
    the span or the result does not verify."""
    pre = pre_roll.total_seconds() if isinstance(pre_roll, timedelta) else float(pre_roll)
    post = post_roll.total_seconds() if isinstance(post_roll, timedelta) else float(post_roll)
    span_start, span_end = to_ts(start) - pre, to_ts(end) + post
    if span_end <= span_start:
        raise ClipError(camera, "empty time span")
    segments = store.segments(camera, span_start, span_end)
    if not segments:
        raise ClipError(camera, "no recorded footage in the span")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.part")
    try:
        first_ts, used = _remux(store, segments, span_start, span_end, tmp)
        codec, width, height, frames, duration = verify_clip(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out_path)
    except ClipError as exc:
        tmp.unlink(missing_ok=True)
        raise ClipError(camera, exc.reason) from exc
    except (OSError, av.error.FFmpegError) as exc:
        tmp.unlink(missing_ok=True)
        raise ClipError(camera, f"cannot write clip ({getattr(exc, 'strerror', None) or type(exc).__name__})") from exc
    size = out_path.stat().st_size
    info = ClipInfo(
        camera=camera, path=out_path, start=from_ts(first_ts), end=from_ts(first_ts + duration),
        duration_s=duration, frames=frames, codec=codec, width=width, height=height, size_bytes=size, segments=used,
    )
    if register:
        store.add_clip(camera, out_path, first_ts, first_ts + duration, size, f"{codec} {width}x{height}", frames)
    log.debug("clip_assembled", camera=camera, duration_s=round(duration, 3), frames=frames, segments=used)
    return info


def _remux(store: VideoStore, segments: list[Segment], span_start: float, span_end: float, out: Path) -> tuple[float, int]:
    """Copy packets into ``out``; returns (wall time of the first frame, segments used)."""
    output = av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"})
    out_stream = None
    desc = None
    pending: list[av.Packet] = []  # the GOP being collected before the span starts
    pending_ts: float | None = None
    started = False
    first_ts: float | None = None
    shift = 0  # added to the segment's timestamps
    last_dts = None  # last dts written (output time base units)
    last_seg: Segment | None = None
    last_end_dts = 0  # dts + duration of the last packet of the previous segment (output units)
    used = 0
    tb = None
    prev_key_ts: float | None = None
    gop_s: float | None = None
    done = False
    seg_used = False

    def _write(packets: list[av.Packet]) -> None:
        nonlocal last_dts, last_end_dts, seg_used
        for item in packets:
            dts, pts = _ts(item.dts) + shift, _ts(item.pts) + shift
            if last_dts is not None and dts <= last_dts:
                bump = last_dts + 1 - dts
                dts, pts = dts + bump, pts + bump
            item.dts, item.pts = dts, pts
            last_dts = dts
            last_end_dts = dts + (item.duration or 0)
            item.stream = out_stream
            output.mux(item)
            seg_used = True

    try:
        for seg in segments:
            path = store.absolute(seg.path)
            try:
                container = av.open(str(path))
            except (av.error.FFmpegError, OSError) as exc:
                log.warning("clip_segment_unreadable", camera=seg.camera, segment=seg.path, error=type(exc).__name__)
                continue
            with container:
                stream = container.streams.video[0]
                if out_stream is None:
                    out_stream = output.add_stream_from_template(stream)
                    desc = _video_desc(stream)
                    tb = stream.time_base
                elif _video_desc(stream) != desc or stream.time_base != tb:
                    log.warning("clip_segment_skipped", camera=seg.camera, reason="stream parameters changed")
                    continue
                assert tb is not None
                seg_tb = float(tb)
                base_pts: int | None = None
                # Join to the previous segment seamlessly when contiguous; otherwise keep the wall gap.
                if started and last_seg is not None:
                    if seg.start_ts - last_seg.end_ts < CONTIGUOUS_GAP_S:
                        shift_from_prev = last_end_dts
                    else:
                        shift_from_prev = last_end_dts + round((seg.start_ts - last_seg.end_ts) / seg_tb)
                else:
                    shift_from_prev = None
                seg_used = False
                if not started:
                    pending = []  # a GOP never spans segments (they are cut at keyframes)
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.dts is None or packet.pts is None:
                        continue
                    if base_pts is None:
                        base_pts = packet.pts
                    wall = seg.start_ts + (packet.pts - base_pts) * seg_tb
                    if packet.is_keyframe:
                        if prev_key_ts is not None and wall > prev_key_ts:
                            gop_s = wall - prev_key_ts
                        prev_key_ts = wall
                    if not started:
                        if not packet.is_keyframe:
                            if pending:
                                pending.append(packet)  # the GOP that may open the clip
                            continue
                        if wall <= span_start:
                            pending, pending_ts = [packet], wall  # a later keyframe may still be nearer
                            continue
                        # The first keyframe after the span's start: open the clip at whichever of it
                        # and the previous keyframe is nearer to the start.
                        started = True
                        if pending and pending_ts is not None and span_start - pending_ts <= wall - span_start:
                            first_ts, shift = pending_ts, -_ts(pending[0].dts)
                            to_write = [*pending, packet]
                        else:
                            first_ts, shift = wall, -_ts(packet.dts)
                            to_write = [packet]
                        pending = []
                    else:
                        # End at the keyframe nearest the span's end: whole GOPs only, so no frame
                        # is left without the frames it is displayed between.
                        if packet.is_keyframe and wall >= span_end - (gop_s or 0.0) / 2:
                            done = True
                            break
                        if shift_from_prev is not None:
                            shift = shift_from_prev - packet.dts
                            shift_from_prev = None
                        to_write = [packet]
                    _write(to_write)
                if seg_used:
                    used += 1
                    last_seg = seg
            if done:
                break
        if not started and pending:
            # The footage ends inside the GOP that holds the span's start.
            started, first_ts, shift = True, pending_ts, -_ts(pending[0].dts)
            _write(pending)
        if not started or first_ts is None:
            raise ClipError("?", "no keyframe in the span")
    finally:
        output.close()
    return first_ts, used
