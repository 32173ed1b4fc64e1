"""The event inventory: filtered pages newest first, counts for charts, live updates, clip tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cloud.api.deps import CloudDep, TenantDep
from cloud.api.params import EARLIEST, PathId, Text, Timestamp
from cloud.api.schemas import ClipTokenCreate, ClipTokenPublic, EventCount, EventPage, EventPublic
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict
from cloud.core.state import Cloud
from cloud.services import accounts, timeline
from cloud.tables import Event
from guardian.contracts import auth

router = APIRouter(prefix="/api/v1/events", tags=["events"])

CameraQ = Annotated[Text | None, Query(max_length=64, description="Only this camera (its name on the edge).")]
LabelQ = Annotated[Text | None, Query(max_length=64, description="Only this label, e.g. person.")]
_RANGE = "ISO 8601 with zone, from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z"
SinceQ = Annotated[Timestamp | None, Query(description=f"Start time ≥ this ({_RANGE}).")]
UntilQ = Annotated[Timestamp | None, Query(description=f"Start time < this ({_RANGE}).")]


def to_public(event: Event) -> EventPublic:
    return EventPublic(
        id=event.id, device_id=event.device_id, camera=event.camera, label=event.label,
        start_at=event.start_at, end_at=event.end_at,
        confidence=timeline.CONFIDENCE_NAMES.get(event.confidence, "unspecified"),
        has_clip=event.has_clip,
    )


@router.get("", response_model=EventPage)
def list_events(
    scope: TenantDep,
    camera: CameraQ = None,
    label: LabelQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    cursor: Annotated[Text | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EventPage:
    """Events newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    base = timeline.filtered(scope.id, camera=camera, label=label, since=since, until=until)
    rows, next_cursor = timeline.page(scope.session, base, limit=limit, cursor=cursor)
    return EventPage(items=[to_public(e) for e in rows], next_cursor=next_cursor)


@router.get("/counts", response_model=list[EventCount], response_model_exclude_none=True)
def count_events(
    scope: TenantDep,
    bucket: Literal["hour", "day"] = "hour",
    camera: CameraQ = None,
    label: LabelQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    group_by: Annotated[Literal["label"] | None, Query(description="label: one row per bucket and label.")] = None,
) -> list[EventCount]:
    """Events per hour or day (UTC) for charts; default range: the last 24 hours (hour) or 30 days (day).

    Buckets without events are left out. With ``group_by=label`` each row also names its label (a
    chart by label in one request); rows are oldest first, then by label.
    """
    until = until or utcnow()
    span = timedelta(hours=24) if bucket == "hour" else timedelta(days=30)
    since = since or max(until - span, EARLIEST)
    if until - since > (timedelta(days=31) if bucket == "hour" else timedelta(days=400)):
        raise ApiError("time range too long for this bucket", code="range_too_long", status=422)
    base = timeline.filtered(scope.id, camera=camera, label=label, since=since, until=until)
    if group_by == "label":
        return [EventCount(bucket=b, label=lb, count=c) for b, lb, c in timeline.counts_by_label(scope.session, base, bucket)]
    return [EventCount(bucket=b, count=c) for b, c in timeline.counts(scope.session, base, bucket)]


def _fetch(cloud: Cloud, tenant_id: str, ids: list[str], camera: str | None, label: str | None) -> list[str]:
    with cloud.sessions() as session:
        stmt = timeline.filtered(tenant_id, camera=camera, label=label).where(Event.id.in_(ids))
        rows = session.scalars(stmt.order_by(Event.start_at, Event.id)).all()
        return [to_public(e).model_dump_json() for e in rows]


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: `event: event`."}},
)
async def stream_events(
    request: Request, scope: TenantDep, cloud: CloudDep, camera: CameraQ = None, label: LabelQ = None
) -> StreamingResponse:
    """Live updates: one ``event`` message per new event of this tenant (works across API replicas)."""
    tenant_id = scope.id
    scope.session.close()  # the stream can be long; do not hold a pooled connection

    async def messages() -> AsyncIterator[str]:
        cloud.metrics.sse_clients.inc()
        try:
            with cloud.bus.subscribe(tenant_id) as queue:
                yield "retry: 3000\n: connected\n\n"
                while not await request.is_disconnected():
                    try:
                        ids = await asyncio.wait_for(queue.get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    for body in await run_in_threadpool(_fetch, cloud, tenant_id, ids, camera, label):
                        yield f"event: event\nid: {json.loads(body)['id']}\ndata: {body}\n\n"
        finally:
            cloud.metrics.sse_clients.dec()

    return StreamingResponse(
        messages(), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{event_id}", response_model=EventPublic)
def get_event(event_id: PathId, scope: TenantDep) -> EventPublic:
    return to_public(scope.get(Event, event_id, "event"))


@router.post("/{event_id}/clip-token", status_code=status.HTTP_201_CREATED, response_model=ClipTokenPublic)
def clip_token(event_id: str, body: ClipTokenCreate, scope: TenantDep, cloud: CloudDep) -> ClipTokenPublic:
    """A token (≤ 5 min) the browser presents to the tenant's relay to fetch this event's media."""
    event = scope.get(Event, event_id, "event")
    scopes = sorted(set(body.scopes))
    if "clip" in scopes and not event.has_clip:
        raise Conflict("this event has no clip", code="no_clip")
    relay = accounts.tenant_relay(scope.session, scope.id)
    if relay is None:
        raise Conflict("no relay is assigned to this tenant yet", code="no_relay")
    ttl = cloud.settings.tokens.clip_token_seconds
    now = utcnow()
    token = auth.mint_clip_token(
        cloud.signing_key, tenant_id=scope.id, device_id=event.device_id, event_id=event.id,
        scopes=scopes, relay_url=relay.endpoint_url, ttl=ttl, now=now.timestamp(),
        token_format=cloud.settings.tokens.format,
    )
    return ClipTokenPublic(
        token=token, relay_url=relay.endpoint_url, scopes=scopes,
        expires_at=datetime.fromtimestamp(int(now.timestamp()) + ttl, tz=now.tzinfo),
    )


