"""Family decoders on synthetic tensors with known answers (no weights needed for SSD and YOLOv8)."""

from __future__ import annotations

import numpy as np

from agents.edge.models.families import Candidates, get_family, nms, postprocess


def _peaked(bin_index: int, bins: int = 11) -> np.ndarray:
    logits = np.full(bins, -20.0, np.float32)
    logits[bin_index] = 20.0
    return logits


def test_nanodet_gfl_decode_places_box_from_distributions():
    fam = get_family("nanodet")
    outs = {}
    for i, (n, name) in enumerate(((2704, "Identity"), (676, "Identity_1"), (169, "Identity_2"))):
        outs[name] = np.zeros((1, n, 80), np.float32)
        outs[f"Identity_{i + 3}"] = np.zeros((1, n, 44), np.float32)
    # Stride 16 map (26×26): cell (x=10, y=5) → centre (168, 88); distances l,t,r,b = 2,3,4,1 strides.
    cell = 5 * 26 + 10
    outs["Identity_1"][0, cell, 2] = 0.9  # car
    outs["Identity_4"][0, cell] = np.concatenate([_peaked(2), _peaked(3), _peaked(4), _peaked(1)])
    cand = fam.decode(outs, (416, 416), 0.5, 80)
    assert len(cand) == 1 and cand.classes[0] == 2
    np.testing.assert_allclose(cand.boxes[0] * 416, [168 - 32, 88 - 48, 168 + 64, 88 + 16], atol=1e-3)
    assert fam.check_outputs({k: v.shape for k, v in outs.items()}, 80) is None
    assert "6 outputs" in (fam.check_outputs({"x": (1, 10, 4)}, 80) or "")


def test_ssd_decode_reorders_yx_and_respects_num_detections():
    fam = get_family("ssd")
    outs = {
        "detection_boxes": np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.4, 0.4]]], np.float32),
        "detection_scores": np.array([[0.9, 0.8, 0.95]], np.float32),
        "detection_classes": np.array([[1, 1, 1]], np.float32),
        "num_detections": np.array([2], np.float32),
    }
    cand = fam.decode(outs, (300, 300), 0.5, 2)
    assert len(cand) == 2  # the third is beyond num_detections
    np.testing.assert_allclose(cand.boxes[0], [0.2, 0.1, 0.6, 0.5])
    assert fam.check_outputs({k: v.shape for k, v in outs.items()}, 2) is None


def test_yolov8_decode_both_layouts():
    fam = get_family("yolov8")
    out = np.zeros((1, 4 + 3, 100), np.float32)
    out[0, :4, 7] = [320, 240, 64, 128]  # cx, cy, w, h in input pixels (640×640 input)
    out[0, 4 + 1, 7] = 0.8
    for tensor in (out, out.transpose(0, 2, 1)):
        cand = fam.decode({"output0": tensor}, (640, 640), 0.25, 3)
        assert len(cand) == 1 and cand.classes[0] == 1
        np.testing.assert_allclose(cand.boxes[0], [288 / 640, 176 / 640, 352 / 640, 304 / 640], atol=1e-6)
    assert fam.check_outputs({"output0": (1, 7, 100)}, 3) is None
    assert fam.check_outputs({"output0": (1, 85, 8400)}, 3) is not None


def test_nms_thresholds_and_min_area():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 0.01, 0.01]], np.float32)
    cand = Candidates(boxes, np.array([0.9, 0.8, 0.4, 0.9], np.float32), np.array([0, 0, 2, 0], np.int32))
    assert list(nms(boxes[:2], cand.scores[:2], 0.5)) == [0]
    labels = ["person", "bicycle", "car"]
    out = postprocess(cand, labels, {"car": 0.35}, 0.5, min_area=0.001)
    # overlapping person merged; the car survives NMS (other class) via its own lower threshold;
    # the tiny box is below the minimum area.
    assert sorted(out.classes.tolist()) == [0, 2]
    assert len(postprocess(cand, labels, {}, 0.5, min_area=0.001)) == 1
    assert len(postprocess(cand, labels, {"car": 0.35}, 0.5, min_area=0.001, wanted={"car"})) == 1
