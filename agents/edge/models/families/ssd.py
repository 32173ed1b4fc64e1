"""SSD as exported by the TensorFlow Object Detection API (and SSD-style ONNX exports): NMS is inside the
graph; outputs are boxes [1, N, 4] as (y_min, x_min, y_max, x_max) normalised, classes [1, N] (1-based
COCO ids for TF OD API models, so label 0 of the labels file is the background), scores [1, N] and
num_detections [1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from agents.edge.models.families.base import Candidates, InputSpec


def _pick(outputs: Mapping[str, np.ndarray], key: str) -> np.ndarray | None:
    for name, value in outputs.items():
        if key in name.lower():
            return np.asarray(value)
    return None


class SsdFamily:
    name = "ssd"
    input = InputSpec(layout="NHWC", color="RGB", element_type="u8")
    default_threshold: float | None = None  # the [detection] defaults
    default_thresholds: Mapping[str, float] = {}
    default_input_fit: Literal["letterbox", "stretch"] = "stretch"
    default_input_size: int = 0  # the stored model's own

    def check_outputs(self, outputs: Mapping[str, Sequence[int]], num_labels: int) -> str | None:
        names = [n.lower() for n in outputs]
        missing = [k for k in ("boxes", "scores", "classes") if not any(k in n for n in names)]
        if missing:
            return f"SSD needs outputs named *boxes*, *scores*, *classes*; missing {missing} in {list(outputs)}"
        boxes = next(tuple(s) for n, s in outputs.items() if "boxes" in n.lower())
        if len(boxes) != 3 or boxes[-1] != 4:
            return f"SSD boxes output must be [1, N, 4]; got {list(boxes)}"
        return None

    def decode(
        self, outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], min_score: float, num_labels: int
    ) -> Candidates:
        boxes = _pick(outputs, "boxes")
        scores = _pick(outputs, "scores")
        classes = _pick(outputs, "classes")
        num = _pick(outputs, "num_detections")
        assert boxes is not None and scores is not None and classes is not None
        boxes, scores, classes = boxes.reshape(-1, 4), scores.reshape(-1), classes.reshape(-1)
        n = int(num.reshape(-1)[0]) if num is not None else len(scores)
        boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
        ok = scores >= min_score
        yxyx = boxes[ok]
        xyxy = np.clip(yxyx[:, [1, 0, 3, 2]], 0.0, 1.0).astype(np.float32)
        return Candidates(xyxy, scores[ok].astype(np.float32), np.rint(classes[ok]).astype(np.int32))
