"""The latest picture of each camera: ``<data_dir>/pictures/<camera>.jpg``, for the owner's screens.

The detector already decodes each camera's frames; every ``interval_s`` (2 s) one of them is encoded as
a JPEG and written atomically (temporary file, rename), its modification time set to the frame's capture
time. Nothing is written while no frames arrive, so an old picture shows when the camera went away. The
file never leaves the edge except through the uplink's EdgeCameras ``Picture`` call, made on request
(:mod:`agents.edge.uplink.cameras_server`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from agents.edge.video.errors import SnapshotError
from agents.edge.video.snapshots import write_snapshot
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.detector")

PICTURES_DIR = "pictures"
INTERVAL_S = 2.0
QUALITY = 80
# Camera names as the config allows them; anything else never becomes a path.
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


def picture_path(data_dir: Path, camera: str) -> Path | None:
    """Where ``camera``'s picture is kept; None for a name that cannot be a file name here."""
    if not _NAME.match(camera) or camera.startswith("."):
        return None
    return data_dir / PICTURES_DIR / f"{camera}.jpg"


class PictureWriter:
    """Keeps one camera's picture current; called from the camera's thread with each decoded frame."""

    def __init__(self, data_dir: Path, camera: str, interval_s: float = INTERVAL_S) -> None:
        self.path = picture_path(data_dir, camera)
        self.camera = camera
        self.interval_s = interval_s
        self._last_at: float | None = None

    def offer(self, image: np.ndarray, at: float) -> bool:
        """Write ``image`` (BGR, captured at unix time ``at``) if the last picture is ``interval_s`` old."""
        if self.path is None or (self._last_at is not None and 0 <= at - self._last_at < self.interval_s):
            return False
        self._last_at = at
        try:
            write_snapshot(image, self.path, quality=QUALITY)
            os.utime(self.path, (at, at))  # the capture time: what the owner's screen shows
        except (SnapshotError, OSError) as exc:  # a full disk must not stop detection
            log.warning("camera_picture_not_written", camera=self.camera, error=str(exc))
            return False
        return True


def remove_pictures_except(data_dir: Path, cameras: Iterable[str]) -> list[str]:
    """Delete the pictures of cameras not in ``cameras`` (removed or disabled); returns their names."""
    keep = {f"{name}.jpg" for name in cameras}
    removed: list[str] = []
    directory = data_dir / PICTURES_DIR
    if not directory.is_dir():
        return removed
    for path in directory.glob("*.jpg"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
            removed.append(path.stem)
    return removed
