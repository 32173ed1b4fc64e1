"""Build IngestBatch messages as a relay would, and serialise them to proto3 JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format

from guardian.contracts.cloud.v1 import ingest_pb2


def event(device: str, camera: str, label: str, start: datetime, *, event_id: str | None = None,
          has_clip: bool = True, seconds: int | None = 8,
          confidence: int = ingest_pb2.CONFIDENCE_HIGH, zones: tuple[str, ...] = (),
          review_item: str = "") -> ingest_pb2.EventSummary:
    """An event summary; ``seconds=None`` leaves the end unset (the event is still going on)."""
    ev = ingest_pb2.EventSummary(event_id=event_id or str(uuid.uuid4()), device_id=device, camera=camera,
                                 label=label, confidence=confidence, has_clip=has_clip,  # type: ignore[arg-type]
                                 zones=list(zones), review_item=review_item)
    ev.start.FromDatetime(start)
    if seconds is not None:
        ev.end.FromDatetime(start + timedelta(seconds=seconds))
    return ev


def health(device: str, cameras: dict[str, str], status: int = 1, *,
           last_seen: datetime | bool | None = True) -> ingest_pb2.DeviceHealth:
    """A health report; ``last_seen=None`` leaves it unset (the relay never heard from the device)."""
    h = ingest_pb2.DeviceHealth(device_id=device, status=status, agent_version="0.1.0")  # type: ignore[arg-type]
    if last_seen is True:
        h.last_seen.FromDatetime(datetime.now(UTC))
    elif isinstance(last_seen, datetime):
        h.last_seen.FromDatetime(last_seen)
    for name, state in cameras.items():
        cam = h.cameras.add(camera=name, state=state)
        cam.last_frame_at.FromDatetime(datetime.now(UTC))
    return h


def batch(relay_id: str, events=(), healths=(), archives=()) -> bytes:
    msg = ingest_pb2.IngestBatch(relay_id=relay_id, events=list(events), health=list(healths), archives=list(archives))
    return json_format.MessageToJson(msg).encode()


def archive(device: str, event_id: str, cid: str, size: int) -> ingest_pb2.ArchiveRecord:
    a = ingest_pb2.ArchiveRecord(event_id=event_id, device_id=device, cid=cid, size=size)
    a.stored_at.FromDatetime(datetime.now(UTC))
    return a
