"""Review items: the timeline as the owner reviews it, a camera's overlapping activity per row (issue #20),
the signed-in member's reviewed state per item (all of its events), their unread items and "mark all"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import Select

from cloud.api.deps import TenantDep
from cloud.api.filters import CursorQ, ReviewedQ, TimelineFilters, TimelineFiltersDep
from cloud.api.params import PathId
from cloud.api.schemas import (
    CameraUnread,
    ErrorResponse,
    ReviewItemPage,
    ReviewItemPublic,
    ReviewItemsReviewedCreate,
    ReviewItemsReviewedPublic,
    UnreadPublic,
)
from cloud.core.db import utcnow
from cloud.core.errors import NotFound
from cloud.services import review_items, reviews, timeline
from cloud.tables import Event
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/review-items", tags=["reviews"])
log = get_logger("cloud.review_items")

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "`not_found`: no such item in this tenant"}}


@router.get("", response_model=ReviewItemPage)
def list_items(
    scope: TenantDep,
    filters: TimelineFiltersDep,
    reviewed: ReviewedQ = None,
    cursor: CursorQ = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> ReviewItemPage:
    """Review items newest first (by their first event). An item is listed when any of its events matches
    the camera, label, zone and times; ``severity`` and ``reviewed`` are the whole item's."""
    items, next_cursor = review_items.page(scope.session, scope.id, scope.user.id, filters.events(scope.id, severity=False),
                                           severity=filters.severity, reviewed=reviewed, limit=limit, cursor=cursor)
    return ReviewItemPage(items=[ReviewItemPublic(**vars(item)) for item in items], next_cursor=next_cursor)


@router.get("/unread", response_model=UnreadPublic)
def unread(scope: TenantDep, filters: TimelineFiltersDep) -> UnreadPublic:
    """The signed-in member's unread items per camera and in total (one query): the items the list shows
    with these filters of which any event is not reviewed by them."""
    per_camera = review_items.unread_by_camera(scope.session, scope.id, scope.user.id,
                                               filters.events(scope.id, severity=False), filters.severity)
    return UnreadPublic(total=sum(per_camera.values()),
                        cameras=[CameraUnread(camera=c, count=n) for c, n in per_camera.items()])


@router.post("/reviewed", response_model=ReviewItemsReviewedPublic)
def mark_all(body: ReviewItemsReviewedCreate, scope: TenantDep) -> ReviewItemsReviewedPublic:
    """Mark reviewed, for the signed-in member, every item the list shows with these filters (all of its
    events that started before ``loaded_at``)."""
    filters = TimelineFilters(camera=body.camera, label=body.label, zone=body.zone, since=body.since, until=body.until,
                              severity=body.severity)
    items, events = review_items.mark_all(scope.session, scope.id, scope.user.id, filters.events(scope.id, severity=False),
                                          severity=filters.severity, before=body.loaded_at or utcnow())
    log.info("review_items_marked_all", tenant=scope.id, user=scope.user.id, items=items, events=events)
    return ReviewItemsReviewedPublic(items=items, events=events)


def _events_of(scope: TenantDep, item_id: str) -> Select[Event]:
    """The item's events in the member's tenant; 404 when it has none there."""
    base = timeline.filtered(scope.id, review_item=item_id)
    if scope.session.scalars(base.with_only_columns(Event.id).limit(1)).first() is None:
        raise NotFound("review item not found")
    return base


@router.put("/{item_id}/reviewed", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
            responses=_NOT_FOUND)
def mark_reviewed(item_id: PathId, scope: TenantDep) -> Response:
    """The signed-in member has reviewed this item: each of its events is marked."""
    marked = reviews.mark_all(scope.session, scope.user.id, _events_of(scope, item_id))
    log.info("review_item_marked", tenant=scope.id, user=scope.user.id, marked=marked)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{item_id}/reviewed", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=_NOT_FOUND)
def mark_unreviewed(item_id: PathId, scope: TenantDep) -> Response:
    """The item (each of its events) is unreviewed again, for the signed-in member only."""
    reviews.unmark_all(scope.session, scope.user.id, _events_of(scope, item_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
