"""The timeline's filters, declared once: the events, their counts, the review items and the unread counts
take the same query parameters (camera, label, zone, times, severity) through :class:`TimelineFilters`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Select

from cloud.api.params import Text, Timestamp
from cloud.api.schemas import NAME_PATTERN, Severity
from cloud.services import timeline
from cloud.tables import Event

_RANGE = "ISO 8601 with zone, from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z"
CameraQ = Annotated[Text | None, Query(max_length=64, description="Only this camera (its name on the edge).")]
LabelQ = Annotated[Text | None, Query(max_length=64, description="Only this label, e.g. person.")]
ZoneQ = Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only events that touched this zone (its name).")]
SinceQ = Annotated[Timestamp | None, Query(description=f"Start time ≥ this ({_RANGE}).")]
UntilQ = Annotated[Timestamp | None, Query(description=f"Start time < this ({_RANGE}).")]
SeverityQ = Annotated[Severity | None, Query(description="Only alerts or only detections.")]
ReviewedQ = Annotated[bool | None, Query(description="Only the events the signed-in member has (true) or has not "
                                                     "(false) reviewed.")]
# Not Text: the cursor's own pattern already excludes control characters (and a second pattern would hide it
# from the schema).
CursorQ = Annotated[str | None, Query(max_length=100, pattern=timeline.CURSOR_PATTERN,
                                      description="A page's `next_cursor`, for the page after it.")]


class TimelineFilters:
    """The timeline's filters as query parameters (a FastAPI dependency: ``TimelineFiltersDep``)."""

    def __init__(self, camera: CameraQ = None, label: LabelQ = None, zone: ZoneQ = None, since: SinceQ = None,
                 until: UntilQ = None, severity: SeverityQ = None) -> None:
        self.camera, self.label, self.zone = camera, label, zone
        self.since, self.until, self.severity = since, until, severity

    def events(self, tenant_id: str, *, severity: bool = True, **more: Any) -> Select[Event]:
        """The tenant's events matching these filters (``more``: :func:`timeline.filtered`'s other filters).
        ``severity=False`` leaves the severity out: a review item's is the whole item's, not each event's."""
        return timeline.filtered(tenant_id, camera=self.camera, label=self.label, zone=self.zone, since=self.since,
                                 until=self.until, severity=self.severity if severity else None, **more)


TimelineFiltersDep = Annotated[TimelineFilters, Depends()]
