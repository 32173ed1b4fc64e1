"""An event row as the API shows it: in pages, one by one, and in the live streams' messages."""

from __future__ import annotations

import json

from cloud.api.schemas import EventPublic
from cloud.services import timeline
from cloud.tables import Event


def to_public(event: Event, reviewed: bool | None = None) -> EventPublic:
    """``reviewed``: the signed-in member's state; None where it is unknown (live messages)."""
    return EventPublic(
        id=event.id, device_id=event.device_id, camera=event.camera, label=event.label,
        start_at=event.start_at, end_at=event.end_at,
        confidence=timeline.CONFIDENCE_NAMES.get(event.confidence, "unspecified"),
        has_clip=event.has_clip, zones=json.loads(event.zones_json),
        severity="alert" if event.severity == "alert" else "detection", reviewed=reviewed,
        review_item=event.review_item or event.id,
    )
