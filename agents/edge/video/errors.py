"""Exceptions of the edge video package; each carries its details as attributes."""

from __future__ import annotations

import enum

from guardian.runtime.errors import GuardianError


class VideoError(GuardianError):
    """Base of the edge video errors."""


class FailureKind(enum.StrEnum):
    """Why a stream could not be read; stable strings, shown in status and used in metrics labels."""

    UNREACHABLE = "unreachable"  # connection refused, no route, DNS
    UNAUTHORIZED = "unauthorized"  # 401: wrong or missing credentials
    NOT_FOUND = "not_found"  # 404: wrong path on the camera
    TIMEOUT = "timeout"  # connected, but the camera did not answer/describe in time
    STALLED = "stalled"  # was streaming, then no packet for the stall timeout
    ENDED = "ended"  # the camera closed the stream
    NO_VIDEO = "no_video"  # the stream has no video track
    BAD_STREAM = "bad_stream"  # garbage, unsupported codec, protocol errors
    STORAGE = "storage"  # the recorder could not write (handled, recording goes on)


class StreamError(VideoError):
    """A camera stream failed. ``kind`` classifies it; ``reason`` is a human sentence without the URL."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


class ClipError(VideoError):
    """A clip could not be assembled (no footage for the span, or the result failed verification)."""

    def __init__(self, camera: str, reason: str) -> None:
        self.camera = camera
        self.reason = reason
        super().__init__(f"clip for camera {camera}: {reason}")


class SnapshotError(VideoError):
    """A snapshot could not be written."""


class HardwareDecodeError(VideoError):
    """A hardware decoder (``path``: qsv, vaapi) could not be opened or failed; ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} decoding unavailable: {reason}")
