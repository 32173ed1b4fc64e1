"""Live sessions: the audit of live views (who watched which camera, from when to when; never media) and
the plan's limit on concurrent viewers.

A session is recorded when the cloud mints its ``live`` token (the only moment the cloud takes part: the
media goes edge → relay's TURN → browser, end-to-end encrypted). It is open until the viewer ends it
(:func:`end`) or its token expires, whichever comes first; the edge ends the stream at the token's expiry
too, so ``min(ended_at, expires_at)`` bounds what was watched. A viewer that keeps watching renews its
token before it expires (:func:`renew`): the same session, with a later ``expires_at``; a session that has
ended (or expired) is not renewed, nor one whose device was revoked, and a member whose login has ended
cannot ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.core.errors import Conflict, NotFound, QuotaExceeded
from cloud.services.plan import plan_for
from cloud.tables import Device, LiveSession, Tenant, User


def open_sessions(session: Session, tenant_id: str, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(LiveSession).where(
            LiveSession.tenant_id == tenant_id, LiveSession.ended_at.is_(None), LiveSession.expires_at > now)
    ) or 0


def start(session: Session, tenant: Tenant, user_id: str, device_id: str, camera: str, stream: str, now: datetime,
          expires_at: datetime) -> LiveSession:
    """Record a new live session (its token expires at ``expires_at``), or raise 409 ``live_viewer_limit``
    when the plan's viewers are all taken."""
    # Two viewers starting at once must not both take the last place: the tenant row serialises them
    # (PostgreSQL; SQLite has one writer anyway and SQLAlchemy leaves FOR UPDATE out there).
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    limit = plan_for(tenant.plan).max_live_viewers
    if open_sessions(session, tenant.id, now) >= limit:
        raise QuotaExceeded(f"the plan allows {limit} live views at once; end one first", code="live_viewer_limit")
    row = LiveSession(tenant_id=tenant.id, user_id=user_id, device_id=device_id, camera=camera, stream=stream,
                      started_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def end(session: Session, tenant_id: str, session_id: str, user: User, may_end_others: bool, now: datetime) -> None:
    """End a session (the viewer closed it). Ending it again, or after it expired, changes nothing. A member
    ends their own sessions; an admin any of the tenant's."""
    row = session.scalars(
        select(LiveSession).where(LiveSession.tenant_id == tenant_id, LiveSession.id == session_id)
    ).first()
    if row is None or (row.user_id != user.id and not may_end_others):
        raise NotFound("live session not found")
    if row.ended_at is None and row.expires_at > now:
        row.ended_at = now


def renew(session: Session, tenant_id: str, session_id: str, user: User, now: datetime,
          expires_at: datetime) -> LiveSession:
    """Extend one of ``user``'s open sessions to ``expires_at`` (a new token's expiry). 404 when it is not
    theirs or its device is revoked; 409 ``live_session_ended`` when it has ended or expired (the viewer
    starts a new session, which counts against the plan again)."""
    row = session.scalars(
        select(LiveSession).where(LiveSession.tenant_id == tenant_id, LiveSession.id == session_id)
        .with_for_update()
    ).first()
    if row is None or row.user_id != user.id:
        raise NotFound("live session not found")
    device = session.get(Device, row.device_id)
    if device is None or device.tenant_id != tenant_id or device.revoked_at is not None:
        raise NotFound("device not found")
    if row.ended_at is not None or row.expires_at <= now:
        raise Conflict("the live session has ended; start a new one", code="live_session_ended")
    row.expires_at = max(row.expires_at, expires_at)
    return row


def recent(session: Session, tenant_id: str, limit: int,
           before: datetime | None = None) -> Sequence[tuple[LiveSession, str | None]]:
    """The tenant's sessions, newest first, with the member's e-mail (None once the account is gone)."""
    stmt = (
        select(LiveSession, User.email).outerjoin(User, User.id == LiveSession.user_id)
        .where(LiveSession.tenant_id == tenant_id)
        .order_by(LiveSession.started_at.desc(), LiveSession.id.desc()).limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LiveSession.started_at < before)
    return [(row, email) for row, email in session.execute(stmt).all()]
