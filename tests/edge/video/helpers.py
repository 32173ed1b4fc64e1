"""Helpers for the video tests."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agents.edge.video.ingest import StreamOptions
from agents.edge.video.recording import CameraRecorder, RecordingOptions
from agents.edge.video.segments import VideoStore
from agents.edge.video.status import CameraState, CameraStatus

T = TypeVar("T")

# Short timeouts and backoff so outages are seen and recovered from quickly in tests.
FAST = StreamOptions(open_timeout_s=6.0, stall_timeout_s=3.0, backoff_initial_s=0.3, backoff_max_s=2.0, stable_after_s=3.0)


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_state(recorder: CameraRecorder, state: CameraState, timeout: float) -> CameraStatus:
    return wait_for(
        lambda: s if (s := recorder.status.snapshot()).state == state else None, timeout,
        f"{recorder.camera} to be {state} (is {recorder.status.snapshot().as_dict()})",
    )


def recorder(store: VideoStore, url: str, name: str = "cam1", segment_seconds: float = 4.0, **kw) -> CameraRecorder:
    rec = CameraRecorder(name, url, store, RecordingOptions(segment_seconds=segment_seconds, stream=FAST), **kw)
    rec.start()
    return rec


def open_store(tmp_path: Path) -> VideoStore:
    return VideoStore.open(tmp_path / "data", tmp_path / "data" / "edge.db")


class JsonLogs:
    """The structlog JSON lines the services print, as the journal would keep them (see conftest's
    ``json_logs``)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def events(self, name: str | None = None, **fields: object) -> list[dict]:
        found = []
        for line in self.stream.getvalue().splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if (name is None or event["event"] == name) and all(event.get(k) == v for k, v in fields.items()):
                found.append(event)
        return found
