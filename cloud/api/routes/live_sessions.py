"""Live sessions: the tenant's audit of live views (tenant admins list it), the viewer's renewal of its
token while it watches, and its end of one.

A session starts when a member gets a ``live`` token (``POST /api/v1/devices/{id}/access-token``,
:mod:`cloud.services.live_sessions`); the cloud sees nothing of the media."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from cloud.api.deps import CloudDep, TenantAdmin, TenantDep
from cloud.api.params import PathId, Timestamp
from cloud.api.schemas import DeviceTokenPublic, ErrorResponse, LiveSessionPublic
from cloud.core.db import utcnow
from cloud.core.errors import Conflict
from cloud.services import accounts, live_sessions
from guardian.contracts import auth
from guardian.runtime.logging import get_logger

log = get_logger("cloud.live")

router = APIRouter(prefix="/api/v1", tags=["live"])


def _public(row: Any, email: str | None) -> LiveSessionPublic:
    ended = row.ended_at if row.ended_at is not None else (row.expires_at if row.expires_at <= utcnow() else None)
    return LiveSessionPublic(id=row.id, user_id=row.user_id, user_email=email, device_id=row.device_id,
                             camera=row.camera, stream=row.stream, started_at=row.started_at,
                             expires_at=row.expires_at, ended_at=ended)


@router.get("/live-sessions", response_model=list[LiveSessionPublic])
def list_live_sessions(
    scope: TenantAdmin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[Timestamp | None, Query(description="Only sessions started before this time (paging).")] = None,
) -> list[LiveSessionPublic]:
    """The tenant's live views, newest first (tenant admins): who watched which camera, from when to when."""
    return [_public(row, email) for row, email in live_sessions.recent(scope.session, scope.id, limit, before)]


@router.post("/live-sessions/{live_session_id}/renew", status_code=status.HTTP_201_CREATED,
             response_model=DeviceTokenPublic, responses={
                 404: {"model": ErrorResponse, "description": "`not_found`: no such session of yours, or its "
                       "device was revoked."},
                 409: {"model": ErrorResponse, "description": "`live_session_ended`: it ended or expired; "
                       "`no_relay`: the tenant has no relay."}})
def renew_live_session(live_session_id: PathId, scope: TenantDep, cloud: CloudDep) -> DeviceTokenPublic:
    """A new ``live`` token for one of your open live sessions (same device, camera and stream), which it
    lasts until: the viewer renews before its token expires and presents the new one to the relay, and the
    stream goes on. Not a new session: the plan's viewers are not counted again."""
    relay = accounts.tenant_relay(scope.session, scope.id)
    if relay is None:
        raise Conflict("no relay is assigned to this tenant yet", code="no_relay")
    ttl = cloud.settings.tokens.clip_token_seconds
    now = int(utcnow().timestamp())
    row = live_sessions.renew(scope.session, scope.id, live_session_id, scope.user, utcnow(),
                              datetime.fromtimestamp(now + ttl, UTC))
    token = auth.mint_device_token(
        cloud.signing_key, tenant_id=scope.id, device_id=row.device_id, scopes=["live"], camera=row.camera,
        relay_url=relay.endpoint_url, ttl=ttl, now=now, stream=row.stream,
    )
    log.info("live_session_renewed", tenant=scope.id, device=row.device_id, live_session=row.id)
    return DeviceTokenPublic(token=token, relay_url=relay.endpoint_url, scopes=["live"], camera=row.camera,
                             expires_at=datetime.fromtimestamp(now + ttl, UTC), live_session_id=row.id)


@router.post("/live-sessions/{live_session_id}/end", status_code=status.HTTP_204_NO_CONTENT,
             responses={404: {"model": ErrorResponse, "description": "`not_found`: no such session of yours."}})
def end_live_session(live_session_id: PathId, scope: TenantDep) -> Response:
    """End a live session (the viewer closed it): it stops counting against the plan's viewers. A member
    ends their own; an admin any of the tenant's. Repeating the call is harmless (204)."""
    live_sessions.end(scope.session, scope.id, live_session_id, scope.user, scope.is_admin, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
