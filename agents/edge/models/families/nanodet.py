"""NanoDet (GFL head): per stride, a class map [1, H*W, C] (sigmoid applied) and a box map
[1, H*W, 4*(reg_max+1)] holding a discrete distribution per side (left, top, right, bottom).
Decoding (Generalized Focal Loss): softmax over the bins, expectation = distance in strides from the
cell centre ((x+0.5)*stride, (y+0.5)*stride).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from agents.edge.models.families.base import Candidates, InputSpec


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gfl_distances(reg: np.ndarray, reg_max: int) -> np.ndarray:
    """(N, 4*(reg_max+1)) logits → (N, 4) expected distances in bins."""
    p = _softmax(reg.reshape(-1, 4, reg_max + 1), axis=2)
    return p @ np.arange(reg_max + 1, dtype=np.float32)


class NanoDetFamily:
    name = "nanodet"
    # The TF.js NanoDet takes RGB scaled to 0..1, NCHW (checked on skimage's astronaut photo: person 0.8+
    # this way; BGR or mean/std inputs score far lower).
    input = InputSpec(layout="NCHW", color="RGB", element_type="f32", mean=(0.0, 0.0, 0.0), scale=(255.0, 255.0, 255.0))
    strides = (8, 16, 32)
    default_threshold: float | None = None  # the [detection] defaults
    default_thresholds: Mapping[str, float] = {}
    # Stretched at its 416: letterboxed, vtest's parked vehicles come out too small (bench/detection_eval.py).
    default_input_fit: Literal["letterbox", "stretch"] = "stretch"
    default_input_size: int = 0  # the stored model's own

    def check_outputs(self, outputs: Mapping[str, Sequence[int]], num_labels: int) -> str | None:
        shapes = [tuple(int(d) for d in s) for s in outputs.values()]
        if len(shapes) != 6 or any(len(s) != 3 for s in shapes):
            return f"NanoDet needs 6 outputs of rank 3 (3 class maps, 3 box maps); got {shapes}"
        cls = sorted((s for s in shapes if s[2] == num_labels), key=lambda s: -s[1])
        box = sorted((s for s in shapes if s[2] != num_labels), key=lambda s: -s[1])
        if len(cls) != 3 or len(box) != 3:
            return f"NanoDet needs 3 class maps with {num_labels} labels and 3 box maps; got {shapes}"
        if [c[1] for c in cls] != [b[1] for b in box] or any(b[2] % 4 for b in box):
            return f"NanoDet class and box maps do not pair up: {shapes}"
        return None

    def decode(
        self, outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], min_score: float, num_labels: int
    ) -> Candidates:
        h, w = input_hw
        arrays = [np.asarray(v) for v in outputs.values()]
        arrays = [a.reshape(a.shape[-2], a.shape[-1]) for a in arrays]
        cls_maps = sorted((a for a in arrays if a.shape[1] == num_labels), key=lambda a: -a.shape[0])
        box_maps = sorted((a for a in arrays if a.shape[1] != num_labels), key=lambda a: -a.shape[0])
        boxes, scores, classes = [], [], []
        for stride, cls, reg in zip(self.strides, cls_maps, box_maps, strict=True):
            fw = int(np.ceil(w / stride))
            # Cells with any class at or above the threshold, found in one flat comparison: a row-wise
            # max over the whole map first costs ~4× more (numpy reduces short rows slowly), on the
            # callback thread of every inference.
            idx = np.unique(np.flatnonzero(cls >= min_score) // cls.shape[1])
            if not idx.size:
                continue
            label = cls[idx].argmax(axis=1)
            best = cls[idx, label]
            dist = gfl_distances(reg[idx], reg.shape[1] // 4 - 1) * stride
            cx = (idx % fw + 0.5) * stride
            cy = (idx // fw + 0.5) * stride
            xyxy = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1)
            boxes.append(np.clip(xyxy / np.array([w, h, w, h], np.float32), 0.0, 1.0))
            scores.append(best)
            classes.append(label)
        if not boxes:
            return Candidates.empty()
        return Candidates(
            np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(classes).astype(np.int32),
        )
