"""What every family shares: the input convention, the candidate arrays, NMS and thresholds."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from agents.edge.models.labels import merge_groups


@dataclass(frozen=True)
class InputSpec:
    """How a family's network wants its image; applied inside the model by OpenVINO's PrePostProcessor."""

    layout: str = "NCHW"  # the network's input layout
    color: str = "RGB"  # "RGB" or "BGR"
    element_type: str = "f32"  # "f32" or "u8"
    mean: tuple[float, float, float] | None = None  # per channel, in the network's colour order
    scale: tuple[float, float, float] | None = None


@dataclass
class Candidates:
    """Detections as parallel arrays; boxes are (x_min, y_min, x_max, y_max) normalised to 0..1."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int32

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(self.boxes[index], self.scores[index], self.classes[index])


class Family(Protocol):
    name: str
    input: InputSpec
    # The score thresholds the family's model is calibrated to (default, per label), chosen from
    # bench/detection_eval.py's curves; None: the edge's [detection] defaults, which are NanoDet's.
    default_threshold: float | None
    default_thresholds: Mapping[str, float]
    # How frames are fitted into the network by default ([detection] input_fit, input_size unset): "stretch" or
    # "letterbox", and the input side (0: the stored model's own), chosen from bench/detection_eval.py.
    default_input_fit: Literal["letterbox", "stretch"]
    default_input_size: int

    def decode(
        self, outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], min_score: float, num_labels: int
    ) -> Candidates:
        """Raw outputs (by output name, batch of one) → candidates scoring at least ``min_score``."""

    def check_outputs(self, outputs: Mapping[str, Sequence[int]], num_labels: int) -> str | None:
        """``None`` when output shapes fit the family, else why not (one line)."""


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_out: int = 300) -> np.ndarray:
    """Greedy NMS; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_out:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def postprocess(
    cand: Candidates,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    default_threshold: float,
    min_area: float = 0.0,
    iou_threshold: float = 0.5,
    wanted: set[str] | None = None,
    merged: Collection[str] = (),
) -> Candidates:
    """Per-label score thresholds, minimum box area (fraction of the frame), label filter, class-aware NMS
    (the labels in ``merged`` count as one class there: overlapping boxes of them are merged)."""
    if not len(cand):
        return cand
    names = np.asarray(list(labels) + ["?"] * max(0, int(cand.classes.max()) + 1 - len(labels)))
    label_of = names[cand.classes]
    limit = np.array([thresholds.get(str(name), default_threshold) for name in label_of], np.float32)
    area = np.clip(cand.boxes[:, 2] - cand.boxes[:, 0], 0, None) * np.clip(cand.boxes[:, 3] - cand.boxes[:, 1], 0, None)
    ok = (cand.scores >= limit) & (area >= min_area)
    if wanted is not None:
        ok &= np.isin(label_of, list(wanted))
    cand = cand.take(np.nonzero(ok)[0])
    if not len(cand):
        return cand
    # Class-aware NMS in one pass: offset each class's boxes so different classes never overlap.
    groups = np.asarray(merge_groups(names.tolist(), merged), np.float32)
    offset = groups[cand.classes][:, None] * 2.0
    keep = nms(cand.boxes + offset, cand.scores, iou_threshold)
    return cand.take(keep)
