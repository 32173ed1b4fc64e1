"""The tracker's input: one detection in one frame (the detector produces it, the tracker consumes it)."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, normalised 0..1


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])
