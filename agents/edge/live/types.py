"""What a live session is asked for: the stream, the TURN server and its credentials; why it is stopped."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LiveStream(enum.StrEnum):
    """Which of the camera's streams a viewer gets: the sub-stream unless the main one is asked for."""

    SUB = "sub"
    MAIN = "main"


class StopReason(enum.StrEnum):
    """Why the relay ends a session (``LiveStop.reason``): the browser stopped it, its device was revoked,
    or its token ran out."""

    VIEWER = "viewer"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def end_reason(self) -> str:
        """The session's ``end_reason`` (and log) for it."""
        return {"viewer": "viewer stopped", "revoked": "device revoked", "expired": "token expired"}[self.value]

    @classmethod
    def parse(cls, value: str) -> StopReason:
        """The reason a stop request gives; a relay of the previous release gives none (the viewer's stop),
        and a reason this edge does not know yet counts as the viewer's too."""
        try:
            return cls(value)
        except ValueError:
            return cls.VIEWER


@dataclass(frozen=True)
class CameraStreams:
    """A camera's RTSP URLs (they may hold credentials: never logged). Without a sub-stream, the main
    one serves both."""

    main_url: str
    sub_url: str | None = None

    def url(self, stream: LiveStream) -> str:
        return self.sub_url if stream is LiveStream.SUB and self.sub_url else self.main_url


@dataclass(frozen=True)
class TurnServer:
    """The relay's TURN server and a time-limited credential: the only ICE server a session uses."""

    urls: tuple[str, ...]
    username: str
    credential: str
