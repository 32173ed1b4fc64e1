"""The relay's event cache: full event metadata (boxes, scores, snapshot and clip references).

Events are stored idempotently by their edge-chosen ``event_id``: a repeat of what is held is a
DUPLICATE (acked, nothing written); a changed version of an event of the same device (e.g. it ended)
replaces the row and queues it for forwarding again; an id held for another device is REJECTED. Rows
expire after the configured retention and :meth:`EventCache.cleanup` deletes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import sessionmaker

from agents.relay.db import CachedEvent, Device, TelemetrySample, utcnow
from guardian.contracts.edge.v1 import uplink_pb2

Status = uplink_pb2.Ack.Status


def _ts(value) -> datetime | None:  # type: ignore[no-untyped-def]
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
    status: int
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
        with self.sessions() as session, session.begin():
            last_telemetry: bytes | None = None
            agent_version = ""
            # Within a batch the same event may appear twice (updated quickly): keep the latest.
            seen: dict[str, CachedEvent] = {}
            for message in messages:
                body = message.WhichOneof("body")
                if body == "event":
                    results.append(self._store_event(session, device_id, message.event, now, seen))
                elif body == "telemetry":
                    data = message.telemetry.SerializeToString()
                    session.add(TelemetrySample(device_id=device_id, received_at=now, payload=data))
                    last_telemetry = data
                    agent_version = message.telemetry.agent_version or agent_version
                    results.append(StoreResult(Status.STORED))
                elif body == "heartbeat":
                    agent_version = message.heartbeat.agent_version or agent_version
                    results.append(StoreResult(Status.STORED))
                else:
                    results.append(StoreResult(Status.REJECTED, "empty message"))
            values: dict[str, object] = {"last_seen": now}
            if last_telemetry is not None:
                values["last_telemetry"] = last_telemetry
            if agent_version:
                values["agent_version"] = agent_version
            session.execute(update(Device).where(Device.device_id == device_id).values(**values))
        return results

    def _store_event(
        self,
        session,  # type: ignore[no-untyped-def]
        device_id: str,
        event: uplink_pb2.Event,
        now: datetime,
        seen: dict[str, CachedEvent],
    ) -> StoreResult:
        if not event.event_id or len(event.event_id) > 64:
            return StoreResult(Status.REJECTED, "event_id missing or too long")
        payload = event.SerializeToString(deterministic=True)
        row = seen.get(event.event_id) or session.get(CachedEvent, event.event_id)
        if row is not None:
            if row.device_id != device_id:
                return StoreResult(Status.REJECTED, "event_id belongs to another device")
            if row.payload == payload:
                return StoreResult(Status.DUPLICATE)
        fields = dict(
            camera=event.camera,
            label=event.label,
            start=_ts(event.start),
            end=_ts(event.end),
            ended=event.ended,
            max_score=event.max_score,
            mean_score=event.mean_score,
            track_json=_track_json(event),
            snapshot_ref=event.snapshot_ref,
            clip_ref=event.clip_ref,
            clip_duration_s=event.clip_duration_s,
            payload=payload,
            updated_at=now,
            expires_at=(_ts(event.start) or now) + self.retention,
            forwarded_at=None,
        )
        if row is None:
            row = CachedEvent(event_id=event.event_id, device_id=device_id, received_at=now, version=0, **fields)
            session.add(row)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
            row.version = (row.version or 0) + 1
        seen[event.event_id] = row
        return StoreResult(Status.STORED)

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
