"""Probe an RTSP stream the way the recorder opens it: codec, size and frame rate, or why it failed.

The stream is opened with the recorder's own :func:`~agents.edge.video.ingest.open_stream` (RTSP over
TCP, FFmpeg through PyAV, the same timeouts and failure classes), so a probe that passes means the
recorder can read the camera. The URL in the result is redacted; reasons never quote it.
"""

from __future__ import annotations

from agents.edge.onvif.types import ErrorKind, Failure, ProbeResult, StreamInfo
from agents.edge.video.errors import FailureKind, StreamError
from agents.edge.video.ingest import StreamOptions, open_stream
from guardian.runtime.logging import redact_text

# What the recorder can store as it comes (remuxed into MP4 segments, never re-encoded).
SUPPORTED_CODECS = frozenset({"h264", "hevc"})

_KINDS = {
    FailureKind.UNREACHABLE: ErrorKind.UNREACHABLE,
    FailureKind.UNAUTHORIZED: ErrorKind.AUTH_FAILED,
    FailureKind.NOT_FOUND: ErrorKind.NOT_FOUND,
    FailureKind.TIMEOUT: ErrorKind.TIMEOUT,
    FailureKind.STALLED: ErrorKind.TIMEOUT,
    FailureKind.NO_VIDEO: ErrorKind.NO_VIDEO,
}


def probe(url: str, timeout_s: float = 5.0, transport: str = "tcp") -> ProbeResult:
    """Open ``url``, read its video stream's parameters and close it again."""
    shown = redact_text(url)
    options = StreamOptions(transport=transport, open_timeout_s=timeout_s, stall_timeout_s=timeout_s)
    try:
        container, stream = open_stream(url, options)
    except StreamError as exc:
        return ProbeResult(url=shown, error=Failure(_KINDS.get(exc.kind, ErrorKind.PROTOCOL), exc.reason))
    try:
        codec = stream.codec_context.name
        rate = stream.average_rate or stream.guessed_rate
        info = StreamInfo(codec=codec, width=stream.codec_context.width, height=stream.codec_context.height,
                          fps=round(float(rate), 3) if rate else None)
    finally:
        container.close()
    if codec not in SUPPORTED_CODECS:
        supported = ", ".join(sorted(SUPPORTED_CODECS))
        return ProbeResult(url=shown, stream=info, error=Failure(
            ErrorKind.UNSUPPORTED_CODEC, f"the camera sends {codec}; the recorder stores {supported}"))
    return ProbeResult(url=shown, stream=info)
