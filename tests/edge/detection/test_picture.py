"""The latest picture of a camera: written at most every 2 s of capture time, dated by the frame, only
under the pictures directory, and removed with its camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from agents.edge.detection.picture import PictureWriter, picture_path, remove_pictures_except

T0 = 1_780_000_000.0


def _frame(value: int) -> np.ndarray:
    return np.full((36, 64, 3), value, dtype=np.uint8)


def test_written_every_two_seconds_of_capture_time_and_dated_by_the_frame(tmp_path: Path) -> None:
    writer = PictureWriter(tmp_path, "front")
    written = [writer.offer(_frame(i * 10), T0 + i * 0.5) for i in range(9)]  # 4 s of frames at 2 fps

    assert written == [True, False, False, False, True, False, False, False, True]
    path = tmp_path / "pictures" / "front.jpg"
    assert path.stat().st_mtime == T0 + 4.0
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (64, 36)
        pixel = image.getpixel((5, 5))
        assert isinstance(pixel, tuple) and abs(pixel[0] - 80) <= 3  # the last offered frame's, not an older one
    assert [p.name for p in path.parent.iterdir()] == ["front.jpg"]  # no temporary file left behind


def test_names_that_are_not_plain_file_names_are_never_written(tmp_path: Path) -> None:
    for name in ("../escape", ".hidden", "a/b", ""):
        assert picture_path(tmp_path, name) is None
        assert PictureWriter(tmp_path, name).offer(_frame(1), T0) is False
    assert not any(tmp_path.rglob("*.jpg"))


def test_pictures_of_cameras_no_longer_watched_are_removed(tmp_path: Path) -> None:
    for name in ("front", "back", "gone"):
        PictureWriter(tmp_path, name).offer(_frame(1), T0)

    assert sorted(remove_pictures_except(tmp_path, ["front", "back"])) == ["gone"]
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["back.jpg", "front.jpg"]
    assert remove_pictures_except(tmp_path / "nowhere", []) == []
