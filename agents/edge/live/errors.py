"""Exceptions of the edge live-view package; each carries its details as attributes."""

from __future__ import annotations

from guardian.runtime.errors import GuardianError


class LiveError(GuardianError):
    """Base of the live-view errors."""


class UnknownCamera(LiveError):
    def __init__(self, camera: str) -> None:
        self.camera = camera
        super().__init__(f"no camera {camera!r} on this edge")


class StreamUnavailable(LiveError):
    """The camera's stream could not be read in time, or is not H.264 (``reason`` says which)."""

    def __init__(self, camera: str, reason: str) -> None:
        self.camera = camera
        self.reason = reason
        super().__init__(f"camera {camera!r}: {reason}")


class NegotiationFailed(LiveError):
    """The viewer's offer cannot be answered (no matching H.264 profile, no video section, bad SDP)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
