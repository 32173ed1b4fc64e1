"""The events table and its queries; every write also queues the event in the outbox (same transaction)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from agents.edge.db.tables import EdgeBase, EventRow
from agents.edge.outbox import OutboxKind, enqueue
from guardian.contracts.edge.v1 import uplink_pb2


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def to_proto(row: EventRow, max_track_points: int = 60) -> uplink_pb2.Event:
    msg = uplink_pb2.Event(
        event_id=row.id, camera=row.camera, label=row.label, max_score=row.max_score,
        mean_score=row.mean_score, snapshot_ref=row.snapshot_ref, clip_ref=row.clip_ref,
        clip_duration_s=row.clip_duration_s, ended=row.ended,
        zones=json.loads(row.zones_json or "[]"),  # names only: the zones' polygons stay on the edge
        severity=uplink_pb2.SEVERITY_ALERT if row.severity == "alert" else uplink_pb2.SEVERITY_DETECTION,
        review_item=row.review_item or "",
    )
    msg.start.CopyFrom(_ts(row.start_at))
    if row.end_at is not None:
        msg.end.CopyFrom(_ts(_aware(row.end_at)))
    points = row.track
    if len(points) > max_track_points:  # evenly thinned, first and last kept
        step = (len(points) - 1) / (max_track_points - 1)
        points = [points[round(i * step)] for i in range(max_track_points)]
    for t, x0, y0, x1, y1, score in points:
        # Straight from the unix time (a datetime per point cost more than the rest of the save).
        seconds, nanos = divmod(round(t * 1e9), 1_000_000_000)
        msg.track.add(
            at=Timestamp(seconds=seconds, nanos=nanos),
            box=uplink_pb2.Box(x_min=x0, y_min=y0, x_max=x1, y_max=y1), score=score,
        )
    return msg


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_TABLE = EdgeBase.metadata.tables[EventRow.__tablename__]  # typed as a Table (``__table__`` is any FromClause)
_COLUMN_KEYS = tuple(c.key for c in _TABLE.columns)
# Scalar column defaults (``updated_at``'s callable is never needed: ``save_all`` sets it).
_DEFAULTS: dict[str, object] = {
    c.key: (c.default.arg if isinstance(c.default, ScalarElementColumnDefault) else None) for c in _TABLE.columns
}
_UPSERTS: dict[frozenset[str], Insert] = {}


def _column_values(row: EventRow) -> tuple[dict[str, object], frozenset[str]]:
    """``row``'s column values for an INSERT (an unset column takes its default, as the ORM's INSERT would
    give it, and ``row`` is given it too) and the columns it has set (an UPDATE writes only those, as
    ``Session.merge`` would)."""
    state = row.__dict__
    given = frozenset(k for k in _COLUMN_KEYS if k in state)
    values: dict[str, object] = {}
    for key, default in _DEFAULTS.items():
        value = state.get(key)
        if value is None and default is not None:
            value = default
            setattr(row, key, value)
        values[key] = value
    return values, given


def _upsert(given: frozenset[str]) -> Insert:
    """INSERT … ON CONFLICT(id) DO UPDATE of the ``given`` columns (cached per set of columns)."""
    statement = _UPSERTS.get(given)
    if statement is None:
        insert = sqlite_insert(_TABLE)
        statement = insert.on_conflict_do_update(
            index_elements=[_TABLE.c.id], set_={k: insert.excluded[k] for k in sorted(given) if k != "id"}
        )
        _UPSERTS[given] = statement
    return statement


def _write(session: Session, rows: Sequence[EventRow]) -> None:
    now = datetime.now(UTC)
    connection = session.connection()
    for row in rows:
        row.updated_at = now
        values, given = _column_values(row)
        connection.execute(_upsert(given), values)
        enqueue(session, OutboxKind.EVENT, row.id, to_proto(row).SerializeToString())


class EventStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def save(self, row: EventRow) -> None:
        """Insert or update ``row`` and queue its current state for the relay, in one transaction."""
        self.save_all([row])

    def save_all(self, rows: Sequence[EventRow]) -> None:
        """:meth:`save` for several rows in one transaction (the detector's event thread writes what one
        pass over its results changed at once). Each is one upsert statement, not an ORM merge (a SELECT,
        a flush and the unit of work: ~1 ms of CPU per save, on the cores inference needs); ``rows``
        stay plain detached objects."""
        if not rows:
            return
        with self.sessions.begin() as session:
            _write(session, rows)

    def close_leftovers(self, keep: Collection[str] = ()) -> list[EventRow]:
        """End the events a previous run of the detector left open (it was killed: its tracks died with
        it), each at the last time its object was seen (its last stored track point, else its start),
        and queue the end for the relay like any other update. ``keep``: the ids of the events this run
        has open (they are not leftovers). Returns the rows closed."""
        stmt = select(EventRow).where(EventRow.ended.is_(False))
        if keep:
            stmt = stmt.where(EventRow.id.not_in(list(keep)))
        with self.sessions() as session:  # mostly there are none: no write transaction for that
            if session.scalars(stmt.limit(1)).first() is None:
                return []
        with self.sessions.begin() as session:
            rows = list(session.scalars(stmt))
            for row in rows:
                start = _aware(row.start_at)
                points = row.track
                last_seen = datetime.fromtimestamp(points[-1][0], UTC) if points else start
                row.end_at = max(start, last_seen)
                row.ended = True
            session.expunge_all()  # written as the detector writes them (upsert + outbox), not by the ORM
            _write(session, rows)
        return rows

    def get(self, event_id: str) -> EventRow | None:
        with self.sessions() as session:
            return session.get(EventRow, event_id)

    def query(
        self,
        camera: str | None = None,
        label: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        ended: bool | None = None,
        limit: int = 1000,
    ) -> Sequence[EventRow]:
        """Events overlapping [since, until], newest first."""
        stmt = select(EventRow)
        if camera is not None:
            stmt = stmt.where(EventRow.camera == camera)
        if label is not None:
            stmt = stmt.where(EventRow.label == label)
        if until is not None:
            stmt = stmt.where(EventRow.start_at <= until)
        if since is not None:
            stmt = stmt.where((EventRow.end_at.is_(None)) | (EventRow.end_at >= since))
        if ended is not None:
            stmt = stmt.where(EventRow.ended.is_(ended))
        with self.sessions() as session:
            return list(session.scalars(stmt.order_by(EventRow.start_at.desc()).limit(limit)))


