"""Snapshots: a JPEG of one frame plus a small thumbnail (for events).

``write_snapshot(frame, path, thumb_path)`` accepts what the detector has at hand: a
:class:`~agents.edge.video.frames.Frame`, an ``av.VideoFrame``, or a numpy ``uint8`` array
``(height, width, 3)`` in BGR order. Files are written atomically (temporary name, fsync, rename), so a
reader never sees half a JPEG.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from agents.edge.video.errors import SnapshotError


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    width: int
    height: int
    size_bytes: int
    thumb_path: Path | None = None
    thumb_width: int | None = None
    thumb_height: int | None = None


def _to_image(frame: Any) -> Image.Image:
    from agents.edge.video.frames import Frame  # local: frames imports av's heavier parts

    if isinstance(frame, Frame):
        frame = frame.video_frame
    if isinstance(frame, av.VideoFrame):
        return frame.to_image()  # RGB, converted by swscale
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise SnapshotError(f"expected a uint8 BGR array (h, w, 3), got {frame.dtype} {frame.shape}")
        return Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]), "RGB")
    raise SnapshotError(f"cannot make a snapshot of a {type(frame).__name__}")


def _save_atomic(image: Image.Image, path: Path, quality: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="JPEG", quality=quality, optimize=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def _crop_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    if max(box) <= 1.0:
        x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
    mx, my = (x2 - x1) / 2, (y2 - y1) / 2
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(width, int(x2 + mx) + 1), min(height, int(y2 + my) + 1)
    if right - left < 2 or bottom - top < 2:
        return 0, 0, width, height
    return left, top, right, bottom


def write_snapshot(
    frame: Any,
    path: Path,
    thumb_path: Path | None = None,
    *,
    quality: int = 85,
    thumb_width: int = 320,
    thumb_quality: int = 75,
    box: tuple[float, float, float, float] | None = None,
) -> SnapshotInfo:
    """Write ``frame`` as a JPEG at ``path`` and, if ``thumb_path`` is given, a thumbnail at most
    ``thumb_width`` pixels wide (aspect kept). With ``box`` ``(x1, y1, x2, y2)`` — pixels, or fractions
    of the frame when all are ≤ 1 — the thumbnail shows the region around the box (the object, with a
    margin of half its size) instead of the whole frame. Returns sizes; raises :class:`SnapshotError`."""
    path = Path(path)
    image = _to_image(frame)
    try:
        size = _save_atomic(image, path, quality)
        if thumb_path is None:
            return SnapshotInfo(path, image.width, image.height, size)
        thumb = image.crop(_crop_box(box, image.width, image.height)) if box is not None else image.copy()
        thumb.thumbnail((thumb_width, max(1, round(thumb_width * image.height / image.width))), Image.Resampling.LANCZOS)
        _save_atomic(thumb, Path(thumb_path), thumb_quality)
    except OSError as exc:
        raise SnapshotError(f"cannot write snapshot: {exc.strerror or exc}") from exc
    return SnapshotInfo(path, image.width, image.height, size, Path(thumb_path), thumb.width, thumb.height)
