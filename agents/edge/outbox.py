"""The durable outbox: what the edge still has to send to its relay.

A row is written in the same transaction as the thing it announces (an event, a telemetry sample), so
a crash can never leave an event that is not queued or a queued event that does not exist. The uplink
deletes a row only after the relay acknowledged it.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from agents.edge.db import EdgeBase


class OutboxKind(enum.IntEnum):
    # Lower sends first: events before telemetry before heartbeats.
    EVENT = 0
    TELEMETRY = 1
    HEARTBEAT = 2


class OutboxItem(EdgeBase):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[int] = mapped_column(Integer)
    # The idempotency key of what is sent (the event UUID); repeated sends of one event update one row.
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # a serialised guardian.edge.v1 message
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_outbox_kind_id", "kind", "id"), Index("ix_outbox_key", "key"))


def enqueue(session: Session, kind: OutboxKind, key: str, payload: bytes) -> OutboxItem:
    """Queue ``payload`` in the caller's transaction (the caller commits)."""
    item = OutboxItem(kind=int(kind), key=key, payload=payload)
    session.add(item)
    return item
