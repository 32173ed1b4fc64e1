"""What a camera search or a stream probe reports: JSON-ready dataclasses and the error kinds."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ErrorKind(enum.StrEnum):
    """Why a device could not be described or a stream not opened; stable strings for UIs and scripts."""

    UNREACHABLE = "unreachable"  # refused, no route, DNS
    AUTH_FAILED = "auth_failed"  # 401 / ONVIF ter:NotAuthorized: wrong or missing credentials
    NOT_FOUND = "not_found"  # 404: no stream at this path
    TIMEOUT = "timeout"  # connected, but no answer in time
    UNSUPPORTED_CODEC = "unsupported_codec"  # a video stream the recorder cannot store
    NO_VIDEO = "no_video"  # the stream has no video track
    PROTOCOL = "protocol"  # the device answered, but not as ONVIF or RTSP says (fault, garbage)
    CREDENTIALS_UNREADABLE = "credentials_unreadable"  # sealed credentials this edge's config key cannot open


@dataclasses.dataclass(frozen=True)
class Failure:
    """A classified error; ``reason`` is a sentence that never quotes a URL or a credential."""

    kind: ErrorKind
    reason: str


@dataclasses.dataclass(frozen=True)
class MediaProfile:
    """One ONVIF media profile: the encoder's settings and where to fetch its stream and snapshots."""

    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None
    snapshot_uri: str | None


@dataclasses.dataclass(frozen=True)
class Camera:
    """A device that answered the WS-Discovery probe, and what its ONVIF services told (if they did)."""

    address: str  # the device service URL (XAddr) it announced
    scopes: tuple[str, ...]
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    profiles: tuple[MediaProfile, ...] = ()
    error: Failure | None = None


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    """A stream that opened: its video codec (FFmpeg's name), size and frame rate."""

    codec: str
    width: int
    height: int
    fps: float | None


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    url: str  # credentials redacted
    stream: StreamInfo | None = None
    error: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def to_json(value: Any) -> Any:
    """A result as JSON-ready data (enums as their strings)."""
    return dataclasses.asdict(value, dict_factory=lambda items: {k: str(v) if isinstance(v, enum.Enum) else v
                                                               for k, v in items})
