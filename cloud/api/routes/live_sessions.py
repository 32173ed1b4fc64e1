"""Live sessions: the tenant's audit of live views (tenant admins list it) and the viewer's end of one.

A session starts when a member gets a ``live`` token (``POST /api/v1/devices/{id}/access-token``,
:mod:`cloud.services.live_sessions`); the cloud sees nothing of the media."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from cloud.api.deps import TenantAdmin, TenantDep
from cloud.api.params import PathId, Timestamp
from cloud.api.schemas import ErrorResponse, LiveSessionPublic
from cloud.core.db import utcnow
from cloud.services import live_sessions

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


@router.post("/live-sessions/{live_session_id}/end", status_code=status.HTTP_204_NO_CONTENT,
             responses={404: {"model": ErrorResponse, "description": "`not_found`: no such session of yours."}})
def end_live_session(live_session_id: PathId, scope: TenantDep) -> Response:
    """End a live session (the viewer closed it): it stops counting against the plan's viewers. A member
    ends their own; an admin any of the tenant's. Repeating the call is harmless (204)."""
    live_sessions.end(scope.session, scope.id, live_session_id, scope.user, scope.is_admin, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
