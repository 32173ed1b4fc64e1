"""The relay's event cache: full event metadata (boxes, scores, snapshot and clip references).

Events are stored idempotently by their edge-chosen ``event_id``: a repeat of what is held is a
DUPLICATE (acked, nothing written); a changed version of an event of the same device (e.g. it ended)
replaces the row and queues it for forwarding again; an id held for another device is REJECTED. Rows
expire after the configured retention and :meth:`EventCache.cleanup` deletes them.

A batch from the uplink is stored set-wise in one transaction: one SELECT of what is held for the
batch's event ids (to tell STORED, DUPLICATE and REJECTED apart), one ``INSERT … ON CONFLICT DO UPDATE``
for all new and changed events, one INSERT for the telemetry, one UPDATE of the device. The upsert
repeats the rules in its WHERE (same device, different payload), so a row that changed between that
SELECT and the write (another stream of the same device, the cleanup) is never wrongly overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Table, and_, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker

from agents.relay.db.tables import CachedEvent, Device, TelemetrySample, utcnow
from guardian.contracts.edge.v1 import uplink_pb2

Status = uplink_pb2.Ack.Status

_CHUNK = 500  # event ids per IN (...) list

# Declarative classes' __table__ is a Table (typed as its base, FromClause).
_events = cast(Table, CachedEvent.__table__)
_samples = cast(Table, TelemetrySample.__table__)
# Replaced on conflict: everything but the identity (event_id, device_id) and received_at.
_REPLACED = (
    "camera", "label", "start", "end", "ended", "max_score", "mean_score", "track_json", "snapshot_ref",
    "clip_ref", "clip_duration_s", "payload", "updated_at", "expires_at", "forwarded_at",
)
_upsert = sqlite_insert(_events)
_upsert = _upsert.on_conflict_do_update(
    index_elements=[_events.c.event_id],
    set_={**{name: _upsert.excluded[name] for name in _REPLACED}, "version": _events.c.version + 1},
    where=and_(_events.c.device_id == _upsert.excluded.device_id, _events.c.payload != _upsert.excluded.payload),
)


def _ts(value: Timestamp) -> datetime | None:
    if value.seconds == 0 and value.nanos == 0:
        return None
    return value.ToDatetime(tzinfo=UTC)


def _track_json(event: uplink_pb2.Event) -> str:
    points = []
    for p in event.track:
        points.append(
            {
                "at": p.at.ToJsonString() if p.HasField("at") else None,
                "box": [p.box.x_min, p.box.y_min, p.box.x_max, p.box.y_max],
                "score": round(p.score, 4),
            }
        )
    return json.dumps(points, separators=(",", ":"))


@dataclass(frozen=True)
class StoreResult:
    status: uplink_pb2.Ack.Status
    reason: str = ""


class EventCache:
    def __init__(self, sessions: sessionmaker, retention: timedelta, telemetry_retention: timedelta) -> None:
        self.sessions = sessions
        self.retention = retention
        self.telemetry_retention = telemetry_retention

    def store(self, device_id: str, messages: list[uplink_pb2.UplinkMessage]) -> list[StoreResult]:
        """Store one batch in one transaction; one result per message, in order."""
        now = utcnow()
        results: list[StoreResult] = []
        events: list[tuple[int, uplink_pb2.Event]] = []  # (index in results, event) still to decide
        samples: list[dict[str, object]] = []
        last_telemetry: bytes | None = None
        agent_version = ""
        for message in messages:
            body = message.WhichOneof("body")
            if body == "event":
                event = message.event
                if not event.event_id or len(event.event_id) > 64:
                    results.append(StoreResult(Status.REJECTED, "event_id missing or too long"))
                    continue
                events.append((len(results), event))
                results.append(StoreResult(Status.STORED))
            elif body == "telemetry":
                last_telemetry = message.telemetry.SerializeToString()
                samples.append({"device_id": device_id, "received_at": now, "payload": last_telemetry})
                agent_version = message.telemetry.agent_version or agent_version
                results.append(StoreResult(Status.STORED))
            elif body == "heartbeat":
                agent_version = message.heartbeat.agent_version or agent_version
                results.append(StoreResult(Status.STORED))
            else:
                results.append(StoreResult(Status.REJECTED, "empty message"))

        with self.sessions() as session, session.begin():
            connection = session.connection()
            rows: list[dict[str, object]] = []
            if events:
                # What is held: event_id → (device_id, payload), updated as the batch is walked (the same
                # event may come twice in one batch, updated quickly: each version is written in order).
                held: dict[str, tuple[str, bytes]] = {}
                ids = list({event.event_id for _i, event in events})
                for start in range(0, len(ids), _CHUNK):
                    query = select(_events.c.event_id, _events.c.device_id, _events.c.payload).where(
                        _events.c.event_id.in_(ids[start : start + _CHUNK])
                    )
                    held.update((r.event_id, (r.device_id, r.payload)) for r in connection.execute(query))
                for index, event in events:
                    payload = event.SerializeToString(deterministic=True)
                    current = held.get(event.event_id)
                    if current is not None and current[0] != device_id:
                        results[index] = StoreResult(Status.REJECTED, "event_id belongs to another device")
                    elif current is not None and current[1] == payload:
                        results[index] = StoreResult(Status.DUPLICATE)
                    else:
                        held[event.event_id] = (device_id, payload)
                        rows.append(self._row(device_id, event, payload, now))
            if rows:
                connection.execute(_upsert, rows)
            if samples:
                connection.execute(insert(_samples), samples)
            values: dict[str, object] = {"last_seen": now}
            if last_telemetry is not None:
                values["last_telemetry"] = last_telemetry
            if agent_version:
                values["agent_version"] = agent_version
            connection.execute(update(Device).where(Device.device_id == device_id).values(**values))
        return results

    def _row(self, device_id: str, event: uplink_pb2.Event, payload: bytes, now: datetime) -> dict[str, object]:
        start = _ts(event.start)
        return {
            "event_id": event.event_id,
            "device_id": device_id,
            "camera": event.camera,
            "label": event.label,
            "start": start,
            "end": _ts(event.end),
            "ended": event.ended,
            "max_score": event.max_score,
            "mean_score": event.mean_score,
            "track_json": _track_json(event),
            "snapshot_ref": event.snapshot_ref,
            "clip_ref": event.clip_ref,
            "clip_duration_s": event.clip_duration_s,
            "payload": payload,
            "received_at": now,
            "updated_at": now,
            "expires_at": (start or now) + self.retention,
            "forwarded_at": None,
            "version": 0,
        }

    # --- queries -------------------------------------------------------------------------------
    def count(self, device_id: str | None = None) -> int:
        with self.sessions() as session:
            query = select(func.count()).select_from(CachedEvent)
            if device_id:
                query = query.where(CachedEvent.device_id == device_id)
            return int(session.scalar(query) or 0)

    def get(self, event_id: str) -> CachedEvent | None:
        with self.sessions() as session:
            return session.get(CachedEvent, event_id)

    def pending_forward(self, limit: int) -> list[CachedEvent]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(CachedEvent)
                    .where(CachedEvent.forwarded_at.is_(None))
                    .order_by(CachedEvent.received_at)
                    .limit(limit)
                )
            )

    def pending_count(self) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(select(func.count()).select_from(CachedEvent).where(CachedEvent.forwarded_at.is_(None)))
                or 0
            )

    def mark_forwarded(self, sent: list[tuple[str, int]]) -> None:
        """Mark events as acknowledged by the cloud, each only at the version that was sent."""
        now = utcnow()
        with self.sessions() as session, session.begin():
            for event_id, version in sent:
                session.execute(
                    update(CachedEvent)
                    .where(CachedEvent.event_id == event_id, CachedEvent.version == version)
                    .values(forwarded_at=now)
                )

    def cleanup(self, now: datetime | None = None) -> tuple[int, int]:
        now = now or utcnow()
        with self.sessions() as session, session.begin():
            events = session.execute(delete(CachedEvent).where(CachedEvent.expires_at < now)).rowcount or 0
            samples = (
                session.execute(
                    delete(TelemetrySample).where(TelemetrySample.received_at < now - self.telemetry_retention)
                ).rowcount
                or 0
            )
        return events, samples
