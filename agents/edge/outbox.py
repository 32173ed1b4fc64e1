"""The durable outbox: what the edge still has to send to its relay.

A row is written in the same transaction as the thing it announces (an event, a telemetry sample), so
a crash can never leave an event that is not queued or a queued event that does not exist. The uplink
deletes a row only after the relay acknowledged it.

Order: events before telemetry (``kind``), then oldest first (``id``).

Re-queueing an event that is still waiting (the same ``key``, e.g. the event ended after it was first
queued) updates that one row and bumps its ``generation``; an acknowledgement deletes a row only if it
names the generation that was sent, so an update that raced with the send is sent again, never lost.
One row per waiting event is a unique index on ``key`` (events only; telemetry keys may repeat), and
``enqueue`` is one ``INSERT … ON CONFLICT DO UPDATE``.

Size bound (:class:`OutboxLimits`, enforced by :func:`enforce_limits`, which the uplink runs
periodically, so ``enqueue`` stays one INSERT):

1. Telemetry is capped on its own at ``max_telemetry`` rows: the oldest samples go first.
2. When the whole outbox is over ``max_items``, the oldest telemetry goes, then nothing else:
   events are kept beyond ``max_items``.
3. Events are only dropped past ``max_events`` (the hard cap), oldest first, each drop counted and
   logged. At the default (1,000,000 events) that is weeks of a busy site without a relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from agents.edge.db.tables import OUTBOX_EVENTS_ONLY, EdgeBase, OutboxItem, OutboxKind

# Bound on the ids in one IN (...) list (SQLite allows 32,766 parameters per statement).
_CHUNK = 1000


_table = EdgeBase.metadata.tables[OutboxItem.__tablename__]  # typed as a Table (``__table__`` is any FromClause)
_insert = insert(_table).returning(_table.c.id, _table.c.generation)
_insert_event = sqlite_insert(_table)
_upsert_event = _insert_event.on_conflict_do_update(
    index_elements=[_table.c.key],
    index_where=OUTBOX_EVENTS_ONLY,
    set_={"payload": _insert_event.excluded.payload, "generation": _table.c.generation + 1},
).returning(_table.c.id, _table.c.generation)


@dataclass(frozen=True)
class Queued:
    id: int
    generation: int  # 0 for a new row; the row's new generation when a waiting event was replaced


def enqueue(session: Session, kind: OutboxKind, key: str, payload: bytes) -> Queued:
    """Queue ``payload`` in the caller's transaction (the caller commits): one statement.

    An event whose ``key`` is already queued has its row updated (payload replaced, ``generation``
    bumped) instead of a second row added. Telemetry rows are always added.
    """
    values = {"kind": int(kind), "key": key, "payload": payload, "generation": 0, "attempts": 0,
              "created_at": datetime.now(UTC)}
    statement = _upsert_event if kind == OutboxKind.EVENT else _insert
    row = session.connection().execute(statement, values).one()
    return Queued(row.id, row.generation)


@dataclass(frozen=True)
class PendingItem:
    id: int
    kind: OutboxKind
    key: str
    payload: bytes
    generation: int


def fetch_after(session: Session, kind: OutboxKind, after_id: int, limit: int) -> list[PendingItem]:
    """Rows of ``kind`` with id above ``after_id``, oldest first (the sender keeps a cursor per kind)."""
    rows = session.execute(
        select(OutboxItem.id, OutboxItem.key, OutboxItem.payload, OutboxItem.generation)
        .where(OutboxItem.kind == int(kind), OutboxItem.id > after_id)
        .order_by(OutboxItem.id)
        .limit(limit)
    ).all()
    return [PendingItem(r.id, kind, r.key, r.payload, r.generation or 0) for r in rows]


def acknowledge(session: Session, acked: list[tuple[int, int]]) -> int:
    """Delete acknowledged ``(id, generation)`` rows, each only at the generation that was sent; returns
    the rows deleted. One DELETE per distinct generation (an event is re-queued a few times at most)."""
    by_generation: dict[int, list[int]] = {}
    for row_id, generation in acked:
        by_generation.setdefault(generation, []).append(row_id)
    connection = session.connection()
    deleted = 0
    for generation, ids in by_generation.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            statement = delete(_table).where(_table.c.generation == generation, _table.c.id.in_(chunk))
            deleted += connection.execute(statement).rowcount or 0
    return deleted


def still_queued(session: Session, ids: list[int]) -> list[int]:
    """Which of ``ids`` are still in the outbox (e.g. replaced by a new generation after they were sent)."""
    connection = session.connection()
    found: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        found.extend(connection.scalars(select(_table.c.id).where(_table.c.id.in_(ids[start : start + _CHUNK]))))
    return found


def mark_attempt(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(update(OutboxItem).where(OutboxItem.id.in_(ids)).values(attempts=OutboxItem.attempts + 1))


def length(session: Session, kind: OutboxKind | None = None) -> int:
    query = select(func.count()).select_from(OutboxItem)
    if kind is not None:
        query = query.where(OutboxItem.kind == int(kind))
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class OutboxLimits:
    max_items: int = 200_000
    max_telemetry: int = 10_000
    max_events: int = 1_000_000


@dataclass(frozen=True)
class Trimmed:
    telemetry: int = 0
    events: int = 0


def _drop_oldest(session: Session, kind: OutboxKind, count: int) -> int:
    if count <= 0:
        return 0
    oldest = (
        select(OutboxItem.id).where(OutboxItem.kind == int(kind)).order_by(OutboxItem.id).limit(count).scalar_subquery()
    )
    result = cast("CursorResult[Any]", session.execute(delete(OutboxItem).where(OutboxItem.id.in_(oldest))))
    return result.rowcount or 0


def enforce_limits(session: Session, limits: OutboxLimits) -> Trimmed:
    """Apply the size policy in the module docstring (the caller commits)."""
    events = length(session, OutboxKind.EVENT)
    others = length(session) - events
    telemetry_drop = max(0, length(session, OutboxKind.TELEMETRY) - limits.max_telemetry)
    telemetry_drop = max(telemetry_drop, min(length(session, OutboxKind.TELEMETRY), events + others - limits.max_items))
    dropped_t = _drop_oldest(session, OutboxKind.TELEMETRY, telemetry_drop)
    dropped_e = _drop_oldest(session, OutboxKind.EVENT, events - limits.max_events)
    return Trimmed(telemetry=dropped_t, events=dropped_e)
