"""What a live session is asked for: the stream, the TURN server and its credentials."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LiveStream(enum.StrEnum):
    """Which of the camera's streams a viewer gets: the sub-stream unless the main one is asked for."""

    SUB = "sub"
    MAIN = "main"


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
