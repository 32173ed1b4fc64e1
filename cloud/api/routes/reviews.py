"""Reviewing: the signed-in member marks events reviewed (one, or all matching the timeline's filters) and
reads their unread counts. Each member has their own state; only their tenant's events are reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from cloud.api.deps import TenantDep
from cloud.api.filters import TimelineFiltersDep
from cloud.api.params import PathId
from cloud.api.schemas import (
    CameraUnread,
    ErrorResponse,
    ReviewAllCreate,
    ReviewAllPublic,
    UnreadPublic,
)
from cloud.core.db import utcnow
from cloud.services import reviews, timeline
from cloud.tables import Event
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])
log = get_logger("cloud.reviews")

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "`not_found`: no such event in this tenant"}}


@router.get("/unread", response_model=UnreadPublic)
def unread(scope: TenantDep, filters: TimelineFiltersDep) -> UnreadPublic:
    """The signed-in member's unreviewed events per camera and in total (one query)."""
    base = filters.events(scope.id)
    per_camera = reviews.unread_by_camera(scope.session, scope.user.id, base)
    return UnreadPublic(total=sum(per_camera.values()),
                        cameras=[CameraUnread(camera=c, count=n) for c, n in per_camera.items()])


@router.post("/mark-all", response_model=ReviewAllPublic)
def mark_all(body: ReviewAllCreate, scope: TenantDep) -> ReviewAllPublic:
    """Mark reviewed, for the signed-in member, every event matching the filters (start before ``until``)."""
    base = timeline.filtered(scope.id, camera=body.camera, label=body.label, zone=body.zone, severity=body.severity,
                             since=body.since, until=body.until or utcnow())
    marked = reviews.mark_all(scope.session, scope.user.id, base)
    log.info("reviews_marked_all", tenant=scope.id, user=scope.user.id, marked=marked)
    return ReviewAllPublic(marked=marked)


@router.put("/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
            responses=_NOT_FOUND)
def mark_reviewed(event_id: PathId, scope: TenantDep) -> Response:
    """The signed-in member has reviewed this event (the event page does this when it opens)."""
    event = scope.get(Event, event_id, "event")
    reviews.mark(scope.session, scope.id, scope.user.id, event.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=_NOT_FOUND)
def mark_unreviewed(event_id: PathId, scope: TenantDep) -> Response:
    """The event is unreviewed again, for the signed-in member only."""
    event = scope.get(Event, event_id, "event")
    reviews.unmark(scope.session, scope.id, scope.user.id, event.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
