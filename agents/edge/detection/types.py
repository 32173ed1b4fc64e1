"""What the detector hands out: its results (a leaf; the detector, the pipeline and the service share it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.edge.tracking.types import Detection


@dataclass
class InferenceResult:
    detections: list[Detection]
    latency_s: float  # submit → result
    userdata: Any
