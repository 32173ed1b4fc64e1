"""YOLOv8-style heads (Ultralytics export, ONNX/IR): one output [1, 4 + C, N] (or [1, N, 4 + C]) holding
box centre/size in input pixels followed by per-class scores (already sigmoid); no objectness, no NMS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from agents.edge.models.families.base import Candidates, InputSpec


class Yolov8Family:
    name = "yolov8"
    input = InputSpec(layout="NCHW", color="RGB", element_type="f32", mean=(0.0, 0.0, 0.0), scale=(255.0, 255.0, 255.0))
    default_threshold: float | None = None  # the [detection] defaults
    default_thresholds: Mapping[str, float] = {}
    default_input_fit: Literal["letterbox", "stretch"] = "stretch"
    default_input_size: int = 0  # the stored model's own

    def check_outputs(self, outputs: Mapping[str, Sequence[int]], num_labels: int) -> str | None:
        shapes = [tuple(int(d) for d in s) for s in outputs.values()]
        if len(shapes) != 1 or len(shapes[0]) != 3 or 4 + num_labels not in shapes[0][1:]:
            return f"YOLOv8 needs one output [1, 4+{num_labels}, N]; got {shapes}"
        return None

    def decode(
        self, outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], min_score: float, num_labels: int
    ) -> Candidates:
        out = np.asarray(next(iter(outputs.values())))[0]
        if out.shape[0] != 4 + num_labels:  # [N, 4+C] variant
            out = out.T
        h, w = input_hw
        cls = out[4:]
        best = cls.max(axis=0)
        idx = np.nonzero(best >= min_score)[0]
        cx, cy, bw, bh = out[:4, idx]
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / np.array([w, h, w, h])
        return Candidates(
            np.clip(xyxy, 0.0, 1.0).astype(np.float32), best[idx].astype(np.float32), cls[:, idx].argmax(axis=0).astype(np.int32)
        )
