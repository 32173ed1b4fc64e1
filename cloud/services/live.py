"""What the live streams read: the events a notification announced, and what a tenant received after a
stream's cursor (its replay on reconnect).

A cursor is a ``received_at`` in µs since 1970 (UTC): an event's ``received_at`` moves whenever a newer
version of it is stored, so "received after the cursor" also covers updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.core.db import utcnow
from cloud.tables import Event

REPLAY_MAX_EVENTS = 500
REPLAY_MAX_AGE = timedelta(hours=1)
# How far before its cursor a replay starts. received_at is taken when the ingest transaction starts, but
# streams hear of events in commit order, so an event received earlier may reach a stream after a later one
# (a slow transaction, another replica's clock): the replay starts early enough to include it. It may send a
# few events the browser already has; the UI merges versions idempotently, so that overlap is harmless.
REPLAY_OVERLAP = timedelta(seconds=10)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def cursor_of(received_at: datetime) -> int:
    return (received_at - _EPOCH) // _MICROSECOND


def cursor_now() -> int:
    return cursor_of(utcnow())


def announced(session: Session, tenant_id: str, ids: list[str]) -> Sequence[Event]:
    """The tenant's events among ``ids``, oldest first."""
    stmt = select(Event).where(Event.tenant_id == tenant_id, Event.id.in_(ids))
    return session.scalars(stmt.order_by(Event.start_at, Event.id)).all()


def received_after(session: Session, tenant_id: str, cursor: int, camera: str | None = None,
                   label: str | None = None) -> Sequence[Event]:
    """What the tenant received (new or updated) after ``cursor`` (less :data:`REPLAY_OVERLAP`), in order of
    receipt: at most the last :data:`REPLAY_MAX_EVENTS`, and nothing older than :data:`REPLAY_MAX_AGE` (a
    browser that was away longer reloads its page, as the UI does after every reconnect)."""
    since = max(_EPOCH + cursor * _MICROSECOND - REPLAY_OVERLAP, utcnow() - REPLAY_MAX_AGE)
    stmt = select(Event).where(Event.tenant_id == tenant_id, Event.received_at > since)
    if camera:
        stmt = stmt.where(Event.camera == camera)
    if label:
        stmt = stmt.where(Event.label == label)
    newest = session.scalars(stmt.order_by(Event.received_at.desc(), Event.id.desc()).limit(REPLAY_MAX_EVENTS)).all()
    return newest[::-1]
