"""Review items: the tenant's events grouped by the item the edge placed them in (issue #20).

The edge groups a camera's overlapping activity into review items and sends each event with its item's
id; an event without one (from an older edge) is an item of its own (:data:`ITEM`). A page of items is
one grouped query (the items with any event matching the filters, newest first by their first event,
keyset-paged like the events), then one query for those items' events, from which each item's camera,
span, labels, zones and best event are read. An item is reviewed by a member when all its events are;
marking an item marks its events (:mod:`cloud.services.reviews`). The member's unread items per camera and
"mark all reviewed" select items the way a page does (:func:`_grouped`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, literal_column, select, tuple_
from sqlalchemy.orm import Session

from cloud.services import reviews, timeline
from cloud.services.reviews import reviewed_by
from cloud.tables import Event

# An event's item: the edge's, else the event itself. ("''" as SQL text, not a bound parameter, so the
# expression is the same wherever it is repeated.)
ITEM = func.coalesce(func.nullif(Event.review_item, literal_column("''")), Event.id)


@dataclass
class ReviewItem:
    id: str
    device_id: str
    camera: str
    start_at: datetime
    end_at: datetime | None  # None while one of its events is still going on
    severity: str
    event_count: int
    reviewed: bool
    best_event_id: str = ""  # the event whose thumbnail shows the item: the highest confidence, first seen
    labels: list[str] = field(default_factory=list)  # first seen first
    zones: list[str] = field(default_factory=list)


def _grouped(tenant_id: str, user_id: str, matching: Select[Event],
             severity: str | None) -> tuple[Select[Any], tuple[Any, Any, Any, Any]]:
    """One row per item with any event in ``matching`` (the tenant's filtered events): its id, first start,
    device, camera, alert (1 when any event is one), how many of its events the member reviewed, and how
    many it has; ``severity`` is the whole item's. Returns the select and its item, first start, reviewed
    and event count columns (for ``having`` and ``order_by``)."""
    rows = (select(ITEM.label("item"), Event.start_at, Event.device_id, Event.camera,
                   case((Event.severity == "alert", 1), else_=0).label("alert"),
                   case((reviewed_by(user_id), 1), else_=0).label("seen"))
            .where(Event.tenant_id == tenant_id, ITEM.in_(matching.with_only_columns(ITEM)))
            .subquery())
    start, alert, seen, count = func.min(rows.c.start_at), func.max(rows.c.alert), func.sum(rows.c.seen), func.count()
    stmt: Select[Any] = (select(rows.c.item, start.label("start_at"), func.min(rows.c.device_id), func.min(rows.c.camera).label("camera"),
                                alert, seen.label("seen"), count.label("events"))
                         .group_by(rows.c.item))
    if severity:
        stmt = stmt.having(alert == (1 if severity == "alert" else 0))
    return stmt, (rows.c.item, start, seen, count)


def page(
    session: Session,
    tenant_id: str,
    user_id: str,
    matching: Select[Event],
    *,
    severity: str | None = None,
    reviewed: bool | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ReviewItem], str | None]:
    """One page of items newest first (by their first event's start, then id); the next cursor or None.

    An item is listed when any of its events is in ``matching`` (the tenant's events filtered by camera,
    label, zone and times); its severity (an alert when any event is one) and the member's ``reviewed``
    state are the whole item's."""
    stmt, (item, start, seen, count) = _grouped(tenant_id, user_id, matching, severity)
    if reviewed is not None:
        stmt = stmt.having(seen == count if reviewed else seen < count)
    if cursor:
        when, item_id = timeline.decode_cursor(cursor)
        stmt = stmt.having(tuple_(start, item) < tuple_(when, item_id))
    found = session.execute(stmt.order_by(start.desc(), item.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    items = {
        item_id: ReviewItem(id=item_id, device_id=device, camera=cam, start_at=first, end_at=None,
                            severity="alert" if alerts else "detection", event_count=int(n), reviewed=int(seen_n) == int(n))
        for item_id, first, device, cam, alerts, seen_n, n in found[:limit]
    }
    _describe(session, tenant_id, items)
    listed = list(items.values())
    next_cursor = timeline.encode_cursor(listed[-1].start_at, listed[-1].id) if more and listed else None
    return listed, next_cursor


def unread_by_camera(session: Session, tenant_id: str, user_id: str, matching: Select[Event],
                     severity: str | None = None) -> dict[str, int]:
    """The member's unread items per camera (an item is unread while any of its events is unreviewed),
    selected as :func:`page` selects them, in one query; cameras with none are left out."""
    stmt, (_item, _start, seen, count) = _grouped(tenant_id, user_id, matching, severity)
    unread = stmt.having(seen < count).subquery()
    by_camera = select(unread.c.camera, func.count()).group_by(unread.c.camera).order_by(unread.c.camera)
    return {str(camera): int(n) for camera, n in session.execute(by_camera)}


def mark_all(session: Session, tenant_id: str, user_id: str, matching: Select[Event], *,
             severity: str | None = None, before: datetime) -> tuple[int, int]:
    """Mark reviewed, for the member, every event that started before ``before`` of every item
    :func:`page` would list; its events that started later (after the list was loaded) stay unreviewed.
    Returns how many items had events marked, and how many events were marked."""
    stmt, (item, _start, seen, count) = _grouped(tenant_id, user_id, matching, severity)
    unread_items = stmt.having(seen < count).with_only_columns(item)
    pending = timeline.filtered(tenant_id, until=before).where(ITEM.in_(unread_items), ~reviewed_by(user_id))
    items = session.scalar(pending.with_only_columns(func.count(func.distinct(ITEM))))
    return int(items or 0), reviews.mark_all(session, user_id, pending)


def _describe(session: Session, tenant_id: str, items: dict[str, ReviewItem]) -> None:
    """Fill in the items' span, labels, zones and best event from their events (one query)."""
    if not items:
        return
    events = session.scalars(select(Event).where(Event.tenant_id == tenant_id, ITEM.in_(list(items)))
                             .order_by(Event.start_at, Event.id))
    best: dict[str, tuple[int, datetime]] = {}
    open_items: set[str] = set()
    for event in events:
        item = items[event.review_item or event.id]
        if event.end_at is None:
            open_items.add(item.id)
        elif item.end_at is None or event.end_at > item.end_at:
            item.end_at = event.end_at
        item.labels = list(dict.fromkeys([*item.labels, event.label]))
        item.zones = list(dict.fromkeys([*item.zones, *json.loads(event.zones_json)]))
        if item.id not in best or event.confidence > best[item.id][0]:  # ties: the first seen
            best[item.id] = (event.confidence, event.start_at)
            item.best_event_id = event.id
    for item_id in open_items:
        items[item_id].end_at = None
