"""The event inventory: filtered pages newest first, counts for charts, live updates, clip tokens."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from cloud.api.deps import CloudDep, TenantDep
from cloud.api.event_public import to_public
from cloud.api.filters import CameraQ, CursorQ, LabelQ, ReviewedQ, TimelineFiltersDep
from cloud.api.live import HubDep, opening
from cloud.api.params import EARLIEST, PathId
from cloud.api.schemas import (
    ClipTokenCreate,
    ClipTokenPublic,
    ErrorResponse,
    EventCount,
    EventPage,
    EventPublic,
)
from cloud.core.capacity import Busy
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict
from cloud.core.live import Login
from cloud.services import accounts, live, reviews, timeline
from cloud.tables import Event
from guardian.contracts import auth
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/events", tags=["events"])
log = get_logger("cloud.events")

ReviewItemQ = Annotated[str | None, Query(pattern=r"^[0-9a-f-]{36}$",
                                          description="Only the events of this review item (`GET /api/v1/review-items`).")]


@router.get("", response_model=EventPage)
def list_events(
    scope: TenantDep,
    filters: TimelineFiltersDep,
    reviewed: ReviewedQ = None,
    review_item: ReviewItemQ = None,
    cursor: CursorQ = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Events newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    base = filters.events(scope.id, reviewed=reviewed, user_id=scope.user.id, review_item=review_item)
    rows, next_cursor = timeline.page(scope.session, base, limit=limit, cursor=cursor)
    seen = reviews.reviewed_ids(scope.session, scope.id, scope.user.id, [e.id for e in rows])
    page = EventPage(items=[to_public(e, e.id in seen) for e in rows], next_cursor=next_cursor)
    # Encoded here: FastAPI would dump the page, validate it against EventPage again and then encode it
    # (the most requested page, up to 200 events).
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/counts", response_model=list[EventCount], response_model_exclude_none=True,
            responses={422: {"model": ErrorResponse, "description": "`invalid_request`, or `range_too_long`: more than "
                             "31 days with `bucket=hour`, 400 days with `bucket=day`"}})
def count_events(
    scope: TenantDep,
    filters: TimelineFiltersDep,
    bucket: Literal["hour", "day"] = "hour",
    reviewed: ReviewedQ = None,
    group_by: Annotated[Literal["label"] | None, Query(description="label: one row per bucket and label.")] = None,
) -> list[EventCount]:
    """Events per hour or day (UTC) for charts; default range: the last 24 hours (hour) or 30 days (day).

    Buckets without events are left out. With ``group_by=label`` each row also names its label (a
    chart by label in one request); rows are oldest first, then by label.
    """
    until = filters.until = filters.until or utcnow()
    span = timedelta(hours=24) if bucket == "hour" else timedelta(days=30)
    since = filters.since = filters.since or max(until - span, EARLIEST)
    if until - since > (timedelta(days=31) if bucket == "hour" else timedelta(days=400)):
        raise ApiError("time range too long for this bucket", code="range_too_long", status=422)
    base = filters.events(scope.id, reviewed=reviewed, user_id=scope.user.id)
    if group_by == "label":
        return [EventCount(bucket=b, label=lb, count=c) for b, lb, c in timeline.counts_by_label(scope.session, base, bucket)]
    return [EventCount(bucket=b, count=c) for b, c in timeline.counts(scope.session, base, bucket)]


_KEEP_ALIVE_SECONDS = 15.0
# Last-Event-ID: a cursor this API sent (µs since 1970); anything else is ignored (no replay).
_CURSOR = re.compile(r"[0-9]{1,17}")


def _resume_cursor(request: Request) -> int | None:
    value = request.headers.get("last-event-id", "").strip()
    if not _CURSOR.fullmatch(value):
        return None
    return min(int(value), live.cursor_now())


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: `event: event`, "
                     "`id:` a cursor. A reconnect sending the last cursor as `Last-Event-ID` first gets what the "
                     "tenant received since (at most 500 events, the last hour). The stream ends when the access "
                     "token expires, within `auth.stream_check_seconds` of the login ending (logout, password change, "
                     "member removed), or when the client falls too far behind; the browser then reconnects."}},
)
async def stream_events(
    request: Request, scope: TenantDep, cloud: CloudDep, hub: HubDep, camera: CameraQ = None, label: LabelQ = None
) -> StreamingResponse:
    """Live updates: one ``event`` message per new or updated event of this tenant (works across API replicas)."""
    claims: dict[str, object] = dict(request.state.access_claims)
    login = Login(str(claims["sub"]), claims.get("ver"), None if claims.get("sid") is None else str(claims["sid"]),
                  scope.id)
    expires_at = float(str(claims["exp"]))
    resume = _resume_cursor(request)
    scope.session.close()  # the stream can be long; do not hold a pooled connection

    async def messages() -> AsyncIterator[str]:
        # The token was checked once, when the stream opened; the stream must not outlive it. The login is
        # checked again on opening, before each delivery and every auth.stream_check_seconds by the hub
        # (one query for all streams), which ends this stream when it no longer holds.
        clock = asyncio.get_running_loop().time
        cloud.metrics.sse_clients.inc()
        reason = "disconnected"
        try:
            # Subscribed before the replay is read: nothing received in between is missed (some may come twice).
            with hub.subscribe(login.tenant_id, login, camera, label) as subscription:
                try:
                    replay = await opening(cloud, login, resume, camera, label)
                except Busy:  # no database turn in time: the browser retries (and resumes) shortly
                    reason = "busy"
                    return
                if replay is None:
                    reason = "session_ended"
                    return
                yield f"retry: 3000\nid: {resume if resume is not None else live.cursor_now()}\n: connected\n\n"
                for message in replay:
                    yield message.text
                last_sent = clock()
                while not await request.is_disconnected():
                    left = expires_at - time.time()
                    if left <= 0:
                        reason = "token_expired"
                        return
                    batch = await subscription.next(min(left, last_sent + _KEEP_ALIVE_SECONDS - clock()))
                    if subscription.ended is not None:
                        reason = subscription.ended
                        return
                    if batch:
                        for message in batch:
                            yield message.text
                        last_sent = clock()
                    elif clock() >= last_sent + _KEEP_ALIVE_SECONDS:
                        yield ": keep-alive\n\n"
                        last_sent = clock()
        finally:
            cloud.metrics.sse_clients.dec()
            log.info("stream_closed", tenant=login.tenant_id, reason=reason)

    return StreamingResponse(
        messages(), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{event_id}", response_model=EventPublic)
def get_event(event_id: PathId, scope: TenantDep) -> EventPublic:
    event = scope.get(Event, event_id, "event")
    return to_public(event, bool(reviews.reviewed_ids(scope.session, scope.id, scope.user.id, [event.id])))


@router.post("/{event_id}/clip-token", status_code=status.HTTP_201_CREATED, response_model=ClipTokenPublic,
             responses={409: {"model": ErrorResponse, "description": "`no_clip`: the event has no clip; `no_relay`: "
                                  "the tenant has no relay yet"}})
def clip_token(event_id: PathId, body: ClipTokenCreate, scope: TenantDep, cloud: CloudDep) -> ClipTokenPublic:
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


