"""Letterbox pre-processing: a 16:9 frame keeps its aspect ratio in the network's input, and boxes map
back to the frame's pixels."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector, with_preprocessing
from agents.edge.detection.letterbox import PAD_VALUE, LetterboxGeometry

INPUT_HW = (416, 416)


def test_geometry_of_a_1080p_frame() -> None:
    g = LetterboxGeometry.of((1080, 1920), INPUT_HW)
    assert g.fitted_hw == (234, 416) and g.offset_yx == (91, 0)
    # A box over the fitted image's middle half, as the network reports it (normalised to 416×416) …
    box = np.array([[104 / 416, (91 + 58.5) / 416, 312 / 416, (91 + 175.5) / 416]])
    # … is the middle half of the frame: pixels 480..1440 × 270..810.
    x0, y0, x1, y1 = g.to_frame(box)[0] * [1920, 1080, 1920, 1080]
    assert np.allclose([x0, y0, x1, y1], [480, 270, 1440, 810], atol=0.5)
    assert g.frame_area(0.5 * 234 / 416 * 0.5) == 0.25


def preprocessed_image(frame: np.ndarray) -> np.ndarray:
    """What the network receives for ``frame`` (NanoDet's preprocessing, letterboxed), as 0..255 RGB HWC."""
    image = ops.parameter([1, 3, *INPUT_HW], np.float32)
    identity = ov.Model([ops.result(image)], [image], "identity")
    compiled = ov.Core().compile_model(with_preprocessing(identity, "nanodet", INPUT_HW), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled(frame[None])[0][0]  # [3, H, W], RGB scaled to 0..1
    return np.asarray(out.transpose(1, 2, 0) * 255.0)


def test_graph_letterbox_places_a_16_9_frame_where_the_geometry_says() -> None:
    """A white rectangle on a black 360×640 frame lands, scaled by one factor, at the geometry's offset;
    the bands above and below are the padding value."""
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[90:270, 160:480] = 255  # the middle half of the frame
    g = LetterboxGeometry.of((360, 640), INPUT_HW)
    assert g.fitted_hw == (234, 416) and g.offset_yx == (91, 0)
    seen = preprocessed_image(frame)[:, :, 0]
    white = np.argwhere(seen > 200)
    (top, left), (bottom, right) = white.min(axis=0), white.max(axis=0)
    # The rectangle is the middle half of the fitted image: rows 91+58.5 .. 91+175.5, columns 104 .. 312.
    assert abs(top - 149.5) <= 1.5 and abs(bottom - 266.5) <= 1.5
    assert abs(left - 104) <= 1.5 and abs(right - 312) <= 1.5
    assert np.allclose(seen[:89], PAD_VALUE, atol=1) and np.allclose(seen[91 + 234 + 2:], PAD_VALUE, atol=1)
    # Each fitted pixel keeps the frame's aspect ratio: the rectangle is 2:1 as in the frame (320×180 → 208×117).
    assert abs((right - left) / (bottom - top) - 320 / 180) < 0.05


def test_a_person_on_a_16_9_frame_maps_back_to_her_pixels(model_store, astronaut_bgr) -> None:
    """The astronaut photo (512×512) in the middle of a 512×910 grey frame: letterboxed, her box is found
    in the frame's pixels where the photo was put."""
    h, w = 512, 910
    left = (w - 512) // 2
    frame = np.full((h, w, 3), 128, np.uint8)
    frame[:, left:left + 512] = astronaut_bgr
    stored = model_store.get("nanodet")
    detector = Detector(stored, model_store.load(stored), num_requests=1, filters=DetectionSettings(
        labels=["person"], thresholds={}, threshold=0.3, input_fit="letterbox"))
    best = max(detector.detect(frame), key=lambda d: d.score)
    x0, y0, x1, y1 = np.array(best.box) * [w, h, w, h]
    # As in the square photo (test_converter): she fills its left two thirds, head to bottom edge.
    assert left - 5 < x0 < left + 0.15 * 512 and left + 0.6 * 512 < x1 < left + 0.85 * 512
    assert y0 < 0.15 * h and y1 > 0.9 * h
