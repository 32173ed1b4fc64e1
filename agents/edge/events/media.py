"""Snapshots and clips for events, through the video side's functions (:mod:`agents.edge.video`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import sessionmaker


class VideoMedia:
    """:class:`~agents.edge.events.manager.EventMedia` on top of the video store's snapshots and clips."""

    def __init__(self, sessions: sessionmaker, data_dir: Path) -> None:
        from agents.edge.video.segments import VideoStore

        self.store = VideoStore(data_dir, sessions)

    def snapshot(self, frame: np.ndarray, box: tuple[float, float, float, float], snapshot: Path, thumbnail: Path) -> None:
        from agents.edge.video.snapshots import write_snapshot

        write_snapshot(frame, snapshot, thumbnail, box=box)

    def clip(self, camera: str, start: datetime, end: datetime, target: Path, partial_ok: bool = False) -> float | None:
        from agents.edge.video.clips import assemble_clip
        from agents.edge.video.errors import ClipError

        # Segments are indexed when they are complete, so the one holding the post-roll shows up a
        # segment length after the post-roll was filmed. Assembling earlier would cut the clip short.
        if not partial_ok and not self.store.segments(camera, end, None):
            return None
        try:
            return assemble_clip(self.store, camera, start, end, target).duration_s
        except ClipError:
            return None  # not recorded (yet): the event manager retries until it gives up
