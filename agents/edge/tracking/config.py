"""The ``[detection.tracking]`` section: the tracker reads it as is (its one definition)."""

from __future__ import annotations

from pydantic import Field

from guardian.runtime.config import Section


class TrackingSection(Section):
    confirm_hits: int = Field(3, ge=1, description="Consecutive detections before a track becomes an event.")
    end_after_s: float = Field(4.0, gt=0, description="An event ends after its object is unseen this long.")
    iou_match: float = Field(0.25, gt=0, lt=1, description="Minimum IoU to match a detection to a track.")
