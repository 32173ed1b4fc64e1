"""YOLOX (Megvii, Apache-2.0), as :mod:`agents.edge.models.convert_yolox` stores it: its decoding appended to the
graph, so the one output has the YOLOv8 layout (box centre and size in input pixels, then objectness × class
probability per class) and decodes as :class:`~agents.edge.models.families.yolov8.Yolov8Family` does. Its input
differs: BGR at 0..255, unnormalised (YOLOX's ``ValTransform``).

Its scores sit on another scale than NanoDet's, so it brings its own default thresholds, chosen from
``bench/detection_eval.py``'s curves.
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.edge.models.families.base import InputSpec
from agents.edge.models.families.yolov8 import Yolov8Family


class YoloxFamily(Yolov8Family):
    name = "yolox"
    input = InputSpec(layout="NCHW", color="BGR", element_type="f32")
    # From bench/detection_eval.py --curves 0.9 (the yolox variants, 2026-12-05): for people, 0.45 is the lowest
    # cut with precision ≥ 90 % on vtest and market_street (0.40), but on vtest it more than doubles the false
    # alarms (25 → 60 per 100 frames, mostly a sign post); 0.5 keeps precision ≥ 95 % on both (people ≥ 40 px:
    # recall 91 % and 61 %). Cars reach 90 % at 0.21–0.36 and trucks at 0.46 on vtest, where the vehicle labels'
    # boxes are merged (merge_vehicles): pooled, vehicles at 0.35 are 98–100 % precise on every scene.
    default_threshold: float | None = 0.5
    default_thresholds: Mapping[str, float] = {"car": 0.35, "truck": 0.35, "bus": 0.35, "train": 0.35}
