"""Model families: how each kind of detector's raw outputs become boxes, scores and labels.

A family knows its input convention (colour order, scale, layout) and decodes raw output tensors into
candidates in normalised image coordinates; :func:`postprocess` then applies per-label thresholds,
minimum box area and class-aware NMS, which are the same for every family.
"""

from __future__ import annotations

from agents.edge.models.families.base import Candidates, Family, InputSpec, nms, postprocess
from agents.edge.models.families.centernet import CenterNetFamily
from agents.edge.models.families.nanodet import NanoDetFamily
from agents.edge.models.families.ssd import SsdFamily
from agents.edge.models.families.yolov8 import Yolov8Family
from agents.edge.models.families.yolox import YoloxFamily

FAMILIES: dict[str, Family] = {
    f.name: f for f in (NanoDetFamily(), SsdFamily(), Yolov8Family(), CenterNetFamily(), YoloxFamily())
}


def get_family(name: str) -> Family:
    from agents.edge.models.errors import ModelError

    try:
        return FAMILIES[name]
    except KeyError:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(sorted(FAMILIES))})") from None


__all__ = ["FAMILIES", "Candidates", "Family", "InputSpec", "get_family", "nms", "postprocess"]
