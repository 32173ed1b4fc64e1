"""Per-camera stream status: connecting, streaming, or failed with a reason; last frame, fps, bitrate.

A :class:`StatusTracker` is written by the thread that reads the stream and read by anyone (the
service's status writer, metrics, tests) through :meth:`StatusTracker.snapshot`, which returns an
immutable :class:`CameraStatus`.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from agents.edge.video.errors import FailureKind, StreamError


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    state: CameraState = CameraState.CONNECTING
    reason: str | None = None  # set when failed: a sentence, never the URL
    failure: FailureKind | None = None
    since: datetime | None = None  # when the state was entered
    last_frame_at: datetime | None = None  # wall time of the last packet received
    fps: float = 0.0  # video packets (frames) per second over the last few seconds
    bitrate_bps: float = 0.0  # bits per second over the last few seconds
    reconnects: int = 0  # sessions started after the first
    codec: str | None = None
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "state": str(self.state),
            "reason": self.reason,
            "failure": str(self.failure) if self.failure else None,
            "since": self.since.isoformat() if self.since else None,
            "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None,
            "fps": round(self.fps, 2),
            "bitrate_bps": round(self.bitrate_bps),
            "reconnects": self.reconnects,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
        }


class StatusTracker:
    """Thread-safe status of one camera's stream, with fps and bitrate over a sliding window."""

    def __init__(self, camera: str, window_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._status = CameraStatus(camera=camera, since=datetime.now(UTC))
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, bytes)
        self._last_packet_wall: float | None = None
        self._sessions = 0
        self._awaiting_packet = False

    @property
    def camera(self) -> str:
        return self._status.camera

    def connecting(self) -> None:
        with self._lock:
            self._sessions += 1
            self._samples.clear()
            self._set(CameraState.CONNECTING, reconnects=max(0, self._sessions - 1))

    def opened(self, codec: str | None, width: int | None, height: int | None) -> None:
        """The stream is open; the state becomes ``streaming`` with the first packet."""
        with self._lock:
            self._status = replace(self._status, codec=codec, width=width, height=height)
            self._awaiting_packet = True

    def failed(self, error: StreamError) -> None:
        with self._lock:
            self._awaiting_packet = False
            self._samples.clear()
            self._set(CameraState.FAILED, reason=error.reason, failure=error.kind, fps=0.0, bitrate_bps=0.0)

    def stopped(self) -> None:
        with self._lock:
            self._awaiting_packet = False
            self._set(CameraState.STOPPED, fps=0.0, bitrate_bps=0.0)

    def packet(self, size: int) -> None:
        """Record one received video packet (called for every packet: keep it cheap)."""
        now = time.monotonic()
        with self._lock:
            if self._awaiting_packet:
                self._awaiting_packet = False
                self._set(CameraState.STREAMING)
            self._samples.append((now, size))
            self._last_packet_wall = time.time()
            horizon = now - self._window_s
            while self._samples and self._samples[0][0] < horizon:
                self._samples.popleft()

    def snapshot(self) -> CameraStatus:
        with self._lock:
            status = self._status
            fps = bitrate = 0.0
            if status.state == CameraState.STREAMING and len(self._samples) >= 2:
                span = max(time.monotonic() - self._samples[0][0], 1e-3)
                fps = len(self._samples) / span
                bitrate = 8 * sum(size for _, size in self._samples) / span
            last = datetime.fromtimestamp(self._last_packet_wall, UTC) if self._last_packet_wall else None
            return replace(status, fps=fps, bitrate_bps=bitrate, last_frame_at=last)

    def _set(self, state: CameraState, reason: str | None = None, failure: FailureKind | None = None,
             **changes: Any) -> None:
        self._status = replace(
            self._status, state=state, reason=reason, failure=failure, since=datetime.now(UTC), **changes
        )
