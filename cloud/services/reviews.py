"""Reviewing: each member's reviewed/unreviewed state of the tenant's events, and their unread counts.

A member has reviewed an event when an ``event_reviews`` row names both; no row means unreviewed. Every
function takes the tenant and the member, so one member's state never touches another's, and every event
is reached through the tenant's filtered select, so no member reaches another tenant's events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, exists, func, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.core.db import utcnow
from cloud.tables import Event, EventReview


def _insert(session: Session) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(EventReview)


def reviewed_by(user_id: str) -> Any:
    """A condition on ``Event``: this member has reviewed it (negate it for the unreviewed ones)."""
    return exists().where(
        EventReview.user_id == user_id, EventReview.tenant_id == Event.tenant_id, EventReview.event_id == Event.id
    )


def reviewed_ids(session: Session, tenant_id: str, user_id: str, event_ids: list[str]) -> set[str]:
    """Which of ``event_ids`` the member has reviewed (one query for a page)."""
    if not event_ids:
        return set()
    return set(session.scalars(select(EventReview.event_id).where(
        EventReview.user_id == user_id, EventReview.tenant_id == tenant_id, EventReview.event_id.in_(event_ids))))


def mark(session: Session, tenant_id: str, user_id: str, event_id: str) -> None:
    """The member has reviewed this event of their tenant (the caller checked it is one); again is a no-op."""
    session.execute(_insert(session).values(user_id=user_id, tenant_id=tenant_id, event_id=event_id,
                                            reviewed_at=utcnow()).on_conflict_do_nothing())


def unmark(session: Session, tenant_id: str, user_id: str, event_id: str) -> None:
    """The event is unreviewed again for this member only."""
    session.execute(delete(EventReview).where(
        EventReview.user_id == user_id, EventReview.tenant_id == tenant_id, EventReview.event_id == event_id))


def mark_all(session: Session, user_id: str, base: Select[Event]) -> int:
    """Mark every event of ``base`` (the tenant's filtered select) the member has not reviewed yet, in one
    statement; returns how many. A concurrent mark of the same event is skipped, not an error."""
    pending = base.where(~reviewed_by(user_id)).with_only_columns(
        literal(user_id).label("user_id"), Event.tenant_id, Event.id, literal(utcnow(), EventReview.reviewed_at.type))
    stmt = _insert(session).from_select(["user_id", "tenant_id", "event_id", "reviewed_at"], pending)
    # Counted from RETURNING: the drivers do not report a row count for INSERT … SELECT alike.
    return len(session.scalars(stmt.on_conflict_do_nothing().returning(EventReview.event_id)).all())


def unmark_all(session: Session, user_id: str, base: Select[Event]) -> None:
    """Unreviewed again, for this member only, every event of ``base`` (the tenant's filtered select)."""
    session.execute(delete(EventReview).where(
        EventReview.user_id == user_id,
        tuple_(EventReview.tenant_id, EventReview.event_id).in_(base.with_only_columns(Event.tenant_id, Event.id))))


def unread_by_camera(session: Session, user_id: str, base: Select[Event]) -> dict[str, int]:
    """Unreviewed events per camera within ``base`` (the tenant's filtered select), in one query; cameras
    with none are left out."""
    sub = base.where(~reviewed_by(user_id)).with_only_columns(Event.camera).subquery()
    stmt = select(sub.c.camera, func.count()).group_by(sub.c.camera).order_by(sub.c.camera)
    return {str(camera): int(count) for camera, count in session.execute(stmt)}
