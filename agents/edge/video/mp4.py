"""MP4 files as the recorder writes them and clips are made of: reading them back and cutting them short.

A leaf: PyAV and the standard library only, so the recorder, the segment index and the clip assembler
share it without importing each other.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.error


@dataclass(frozen=True)
class VideoSpan:
    """What a file's video packets cover, from its own timestamps."""

    frames: int
    first_pts: int
    end_pts: int  # pts + duration of the packet that ends last
    time_base: float

    @property
    def duration_s(self) -> float:
        return (self.end_pts - self.first_pts) * self.time_base


def time_base(stream: av.video.stream.VideoStream) -> float:
    """Seconds per timestamp tick of ``stream`` (every demuxed or muxed video stream has one)."""
    if stream.time_base is None:
        raise ValueError(f"video stream without a time base: {stream}")
    return float(stream.time_base)


def scan_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
               each: Callable[[av.Packet], None] | None = None) -> VideoSpan | None:
    """Demux ``stream``'s packets (``each`` sees every packet with data): their span, or ``None`` when
    there is none."""
    first = end = None
    frames = 0
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        frames += 1
        first = packet.pts if first is None else min(first, packet.pts)
        packet_end = packet.pts + (packet.duration or 0)
        end = packet_end if end is None else max(end, packet_end)
        if each is not None:
            each(packet)
    if frames == 0 or first is None or end is None:
        return None
    return VideoSpan(frames, first, end, time_base(stream))


def codec_description(stream: av.video.stream.VideoStream) -> str:
    ctx = stream.codec_context
    profile = f" {ctx.profile}" if ctx.profile else ""
    return f"{ctx.name}{profile} {ctx.width}x{ctx.height}"[:32]


def read_segment(path: Path) -> tuple[VideoSpan, str] | None:
    """Demux ``path``: its span and codec description, ``None`` if unreadable or empty."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            span = scan_video(container, stream)
            codec = codec_description(stream)
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    return None if span is None else (span, codec)


def truncate_to_fragments(path: Path, *, check_only: bool = False) -> int:
    """Cut a fragmented MP4 cut short by a write error back to its last complete fragment.

    The file is walked box by box (``ftyp``, ``moov``, then ``moof`` + ``mdat`` per fragment, ``mfra``
    at the end of a closed file); everything after the last complete ``moof``+``mdat`` pair (or the
    complete ``mfra``) goes. Truncating never needs disk space. Returns the size kept: 0 when the file
    has no complete fragment (the caller deletes it). ``check_only``: only say what would be kept."""
    size = path.stat().st_size
    keep = pos = fragments = 0
    moov = False
    previous = b""
    with open(path, "rb") as handle:
        while pos + 8 <= size:
            handle.seek(pos)
            header = handle.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) == 16:
                box_size = struct.unpack(">Q", header[8:16])[0]
            if box_size < 8 or pos + box_size > size:
                break  # cut inside this box (or garbage: size 0 means "to the end", never written here)
            if kind == b"moov":
                moov = True
            elif kind == b"mdat" and previous == b"moof" and moov:
                fragments += 1
                keep = pos + box_size
            elif kind == b"mfra" and fragments:
                keep = pos + box_size
            previous = kind
            pos += box_size
    if keep and keep < size and not check_only:
        os.truncate(path, keep)
    return keep
