"""Ingestion of relay batches (``IngestBatch`` in the proto3 JSON mapping).

Strict: unknown fields, wrong types, missing or malformed ids and impossible times refuse the whole batch with
a 422 listing each problem, so a relay bug is noticed rather than half-stored. Idempotent by (tenant, event
id), newer information wins: the relay sends an event again when it learns more (its end, its clip once
assembled, a higher confidence bucket, another zone entered), and such a version updates the row (``INSERT …
ON CONFLICT DO UPDATE … WHERE``, see :data:`_EVENT_UPSERT_SET`); a version that adds nothing (a retried batch,
an older version arriving late) is acknowledged as a duplicate and changes nothing. The label, camera, device
and start are the event's identity and never change; a version naming another device, camera or label than the
row holds is not applied (counted as rejected). A relay writes only for its own tenant: the tenant comes from
the relay's identity, never from the batch, and devices already enrolled for another tenant are refused.
Nothing from a revoked device is stored (its events and archive records are counted as rejected, its health is
acknowledged and ignored); a ``REVOKED`` health report (the device was revoked at the relay) revokes it here
too. ``config_status`` (what devices applied of their desired configuration) updates a device's reported state
unless it is older than the held one; one naming a device the tenant does not hold (unknown, another tenant's,
revoked) is counted as rejected.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.core.bus import EventBus
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Forbidden
from cloud.services import device_config
from cloud.services.devices import revoke_device
from cloud.services.plan import plan_for
from cloud.tables import ArchiveRecord, Camera, Device, Event, Relay, Tenant
from guardian.contracts.cloud.v1 import ingest_pb2

MAX_EVENTS = 2000
MAX_HEALTH = 200
MAX_ARCHIVES = 2000
MAX_CONFIG_STATUS = 200
MAX_CONFIG_VERSION = 2**31 - 1  # versions are numbered by the cloud (Integer columns)
MAX_EVENT_ZONES = 16  # a camera has at most 16 zones (the desired-config schema)
_CONFIG_CAMERA = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # also a zone's name
_CONFIG_STATES = {"applied", "failed", "removed"}
_MQTT_STATES = {"connected", "failing", "disabled"}
_BASE64URL_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, unpadded
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CID = re.compile(r"^b[a-z2-7]{20,118}$")  # CIDv1, base32 multibase
_FUTURE = timedelta(minutes=5)
_HEALTH_STATUS = {0: "unknown", 1: "healthy", 2: "degraded", 3: "offline"}
_CAMERA_STATES = {"connecting", "streaming", "failed", "disabled", ""}


class MalformedBatch(ApiError):
    status = 422
    code = "malformed_batch"

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = problems or []


@dataclass
class IngestOutcome:
    result: ingest_pb2.IngestResult
    new_event_ids: list[str] = field(default_factory=list)
    updated_event_ids: list[str] = field(default_factory=list)
    rejected_events: int = 0
    rejected_archives: int = 0
    rejected_config_status: int = 0


def parse_batch(body: bytes) -> ingest_pb2.IngestBatch:
    batch = ingest_pb2.IngestBatch()
    try:
        json_format.Parse(body.decode("utf-8"), batch, ignore_unknown_fields=False)
    except UnicodeDecodeError:
        raise MalformedBatch("body is not UTF-8") from None
    except json_format.ParseError as exc:
        raise MalformedBatch(f"not a valid IngestBatch: {str(exc)[:300]}") from None
    return batch


def _ts(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def validate_batch(batch: ingest_pb2.IngestBatch, now: datetime) -> None:
    problems: list[dict[str, Any]] = []

    def bad(where: str, message: str) -> None:
        if len(problems) < 50:
            problems.append({"field": where, "problem": message})

    if (len(batch.events) > MAX_EVENTS or len(batch.health) > MAX_HEALTH or len(batch.archives) > MAX_ARCHIVES
            or len(batch.config_status) > MAX_CONFIG_STATUS):
        raise MalformedBatch(f"batch too large (≤ {MAX_EVENTS} events, {MAX_HEALTH} health, {MAX_ARCHIVES} archives, "
                             f"{MAX_CONFIG_STATUS} config_status)")
    seen: set[str] = set()
    for i, ev in enumerate(batch.events):
        where = f"events[{i}]"
        try:
            uuid.UUID(ev.event_id)
        except ValueError:
            bad(f"{where}.event_id", "must be a UUID")
        if ev.event_id.lower() in seen:  # ids are stored lower-case
            bad(f"{where}.event_id", "repeated in this batch")
        seen.add(ev.event_id.lower())
        if not _NAME.match(ev.device_id):
            bad(f"{where}.device_id", "missing or not a short identifier")
        if not _NAME.match(ev.camera):
            bad(f"{where}.camera", "missing or not a short identifier")
        if not _NAME.match(ev.label):
            bad(f"{where}.label", "missing or not a short identifier")
        if not ev.HasField("start"):
            bad(f"{where}.start", "required")
        elif _ts(ev.start) > now + _FUTURE:
            bad(f"{where}.start", "in the future")
        if ev.HasField("end") and ev.HasField("start") and _ts(ev.end) < _ts(ev.start):
            bad(f"{where}.end", "before start")
        if (len(ev.zones) > MAX_EVENT_ZONES or len(set(ev.zones)) != len(ev.zones)
                or not all(_CONFIG_CAMERA.match(zone) for zone in ev.zones)):
            bad(f"{where}.zones", f"at most {MAX_EVENT_ZONES} distinct zone names")
        if ev.severity not in ingest_pb2.Severity.values():
            bad(f"{where}.severity", "unknown severity")
        if ev.review_item:
            try:
                uuid.UUID(ev.review_item)
            except ValueError:
                bad(f"{where}.review_item", "must be a UUID or empty")
    for i, h in enumerate(batch.health):
        where = f"health[{i}]"
        if not _NAME.match(h.device_id):
            bad(f"{where}.device_id", "missing or not a short identifier")
        if len(h.reason) > 500 or len(h.agent_version) > 50:
            bad(where, "reason or agent_version too long")
        for j, cam in enumerate(h.cameras):
            if not _NAME.match(cam.camera):
                bad(f"{where}.cameras[{j}].camera", "missing or not a short identifier")
            if cam.state not in _CAMERA_STATES:
                bad(f"{where}.cameras[{j}].state", "unknown state")
            if not all(math.isfinite(v) and 0 <= v < 1e12 for v in (cam.fps, cam.bitrate_bps)):
                bad(f"{where}.cameras[{j}]", "fps or bitrate_bps not a plausible number")
            if len(cam.reason) > 500:
                bad(f"{where}.cameras[{j}].reason", "too long")
    for i, a in enumerate(batch.archives):
        where = f"archives[{i}]"
        try:
            uuid.UUID(a.event_id)
        except ValueError:
            bad(f"{where}.event_id", "must be a UUID")
        if not _NAME.match(a.device_id):
            bad(f"{where}.device_id", "missing or not a short identifier")
        if not _CID.match(a.cid):
            bad(f"{where}.cid", "not a CIDv1 (base32)")
        if not a.HasField("stored_at"):
            bad(f"{where}.stored_at", "required")
    for i, c in enumerate(batch.config_status):
        _validate_config_status(f"config_status[{i}]", c, now, bad)
    if problems:
        raise MalformedBatch("batch refused: fix these fields", problems)


def _validate_config_status(where: str, c: ingest_pb2.ConfigStatus, now: datetime, bad: Any) -> None:
    if not _NAME.match(c.device_id):
        bad(f"{where}.device_id", "missing or not a short identifier")
    if c.applied_version > MAX_CONFIG_VERSION or c.refused_version > MAX_CONFIG_VERSION:
        bad(where, "version out of range")
    if len(c.refused_reason) > 2000 or len(c.cameras) > 64:
        bad(where, "refused_reason or cameras too long")
    if c.HasField("at") and _ts(c.at) > now + _FUTURE:
        bad(f"{where}.at", "in the future")
    if c.config_key_id or c.config_public_key:
        # The contract's key id is derived from the key: a mismatch is a relay or edge bug.
        if not _BASE64URL_KEY.match(c.config_public_key):
            bad(f"{where}.config_public_key", "not a 32-byte key in base64url")
        elif c.config_key_id != device_config.key_id_of(device_config.b64url_decode(c.config_public_key)):
            bad(f"{where}.config_key_id", "not the first 16 hex digits of the key's SHA-256")
    for j, cam in enumerate(c.cameras):
        if not _CONFIG_CAMERA.match(cam.camera):
            bad(f"{where}.cameras[{j}].camera", "missing or not a camera name")
        if cam.state not in _CONFIG_STATES:
            bad(f"{where}.cameras[{j}].state", "unknown state")
        if len(cam.error) > 2000:
            bad(f"{where}.cameras[{j}].error", "too long")
    if c.HasField("mqtt") and (c.mqtt.state not in _MQTT_STATES or len(c.mqtt.error) > 2000):
        bad(f"{where}.mqtt", "unknown state or error too long")


def _insert(session: Session, model: type) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)


_EVENT_COLUMNS = ("tenant_id", "id", "device_id", "camera", "label", "start_at", "end_at", "confidence", "has_clip",
                  "received_at", "zones_json", "severity", "review_item")
_PG_ARRAY_TYPES = ("text", "text", "text", "text", "text", "timestamptz", "timestamptz", "smallint", "boolean",
                   "timestamptz", "text", "text", "text")

# What a later version of an event may change, merged so that information is only ever added: the end
# once known (or later), the clip once assembled, the higher confidence bucket, the longer list of zones (an
# edge only appends to an event's zones, so the longer list is the newer one). Monotonic, so a retried or
# reordered older version can never undo a newer one. Plain SQL valid on PostgreSQL and SQLite (SQLite's
# max() would return NULL for a NULL end).
_NEWER_END = "(excluded.end_at IS NOT NULL AND (events.end_at IS NULL OR excluded.end_at > events.end_at))"
_NEWER_CLIP = "(excluded.has_clip AND NOT events.has_clip)"
_NEWER_CONFIDENCE = "(excluded.confidence > events.confidence)"
_NEWER_ZONES = "(length(excluded.zones_json) > length(events.zones_json))"
# An edge only ever raises an event's severity (its zones only grow): once an alert, always an alert.
_NEWER_SEVERITY = "(excluded.severity = 'alert' AND events.severity <> 'alert')"
_OTHER_ITEM = "(excluded.review_item <> '' AND excluded.review_item <> events.review_item)"
_EVENT_UPSERT_SET = {
    "end_at": f"CASE WHEN {_NEWER_END} THEN excluded.end_at ELSE events.end_at END",
    "has_clip": "(events.has_clip OR excluded.has_clip)",
    "confidence": f"CASE WHEN {_NEWER_CONFIDENCE} THEN excluded.confidence ELSE events.confidence END",
    "zones_json": f"CASE WHEN {_NEWER_ZONES} THEN excluded.zones_json ELSE events.zones_json END",
    "severity": f"CASE WHEN {_NEWER_SEVERITY} THEN excluded.severity ELSE events.severity END",
    # The one field that is not monotonic: the edge may move an event to a newer item (a parked vehicle that
    # drives off), so the item of the version applied last is kept; a version without one keeps the held one.
    "review_item": f"CASE WHEN {_OTHER_ITEM} THEN excluded.review_item ELSE events.review_item END",
    # Applied only when the version adds something (the WHERE below): the live streams replay by it.
    "received_at": "excluded.received_at",
}
# Only a version of the same event (same device, camera and label) is applied (the tenant is part of
# the conflict key, so another tenant's row can never be reached), and only when it adds something.
_EVENT_UPSERT_WHERE = (
    "events.device_id = excluded.device_id AND events.camera = excluded.camera AND events.label = excluded.label"
    f" AND ({_NEWER_END} OR {_NEWER_CLIP} OR {_NEWER_CONFIDENCE} OR {_NEWER_ZONES} OR {_NEWER_SEVERITY}"
    f" OR {_OTHER_ITEM})"
)

# One statement with one array per column: the query text stays small whatever the batch size, so
# PostgreSQL parses it once and the driver does not rewrite thousands of placeholders. ``xmax = 0`` tells
# a row inserted by this statement from one it updated.
_PG_UNNEST_UPSERT = text(
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in zip(_EVENT_COLUMNS, _PG_ARRAY_TYPES, strict=True))}) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET "
    + ", ".join(f"{column} = {value}" for column, value in _EVENT_UPSERT_SET.items())
    + f" WHERE {_EVENT_UPSERT_WHERE} RETURNING id, (xmax = 0) AS inserted"
)


def _upsert_events(session: Session, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Insert new events and apply newer versions of held ones; returns (inserted ids, updated ids).

    Ids in neither list were already held with at least as much information (or name another device,
    camera or label than the row holds): nothing was written for them.
    """
    rows = sorted(rows, key=lambda row: row["id"])  # one lock order, so concurrent overlapping batches cannot deadlock
    if session.get_bind().dialect.name == "postgresql":
        columns = {c: [row[c] for row in rows] for c in _EVENT_COLUMNS}
        written = session.execute(_PG_UNNEST_UPSERT, columns).all()
        return [i for i, inserted in written if inserted], [i for i, inserted in written if not inserted]
    # SQLite (one machine): which ids exist is read first in the same transaction.
    tenant_id = rows[0]["tenant_id"]
    held = set(session.scalars(select(Event.id).where(Event.tenant_id == tenant_id,
                                                       Event.id.in_([row["id"] for row in rows]))))
    stmt = _insert(session, Event)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "id"],
        set_={column: text(value) for column, value in _EVENT_UPSERT_SET.items()},
        where=text(_EVENT_UPSERT_WHERE),
    ).returning(Event.id)
    ids = list(session.scalars(stmt, rows))
    return [i for i in ids if i not in held], [i for i in ids if i in held]


def _mismatched(session: Session, tenant_id: str, rows: list[dict[str, Any]]) -> int:
    """How many of ``rows`` (versions not applied) name another device, camera or label than the held row."""
    if not rows:
        return 0
    held = {i: (d, c, lb) for i, d, c, lb in session.execute(
        select(Event.id, Event.device_id, Event.camera, Event.label).where(
            Event.tenant_id == tenant_id, Event.id.in_([r["id"] for r in rows])))}
    return sum(1 for r in rows if r["id"] in held and held[r["id"]] != (r["device_id"], r["camera"], r["label"]))


def ingest(session: Session, bus: EventBus, relay: Relay, batch: ingest_pb2.IngestBatch) -> IngestOutcome:
    """Store a validated batch for the relay's tenant. The caller commits."""
    if batch.relay_id != relay.id:
        raise Forbidden("batch names another relay", code="wrong_relay")
    if relay.tenant_id is None:
        raise Forbidden("relay is not assigned to a tenant", code="relay_unassigned")
    tenant = session.get(Tenant, relay.tenant_id)
    assert tenant is not None
    now = utcnow()
    validate_batch(batch, now)
    plan = plan_for(tenant.plan)
    outcome = IngestOutcome(result=ingest_pb2.IngestResult())

    # Devices: new ones are enrolled for this tenant; one owned by another tenant refuses the batch.
    device_ids = {e.device_id for e in batch.events} | {h.device_id for h in batch.health} | {
        a.device_id for a in batch.archives
    }
    known = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(device_ids)))}
    foreign = sorted(d.id for d in known.values() if d.tenant_id != tenant.id)
    if foreign:
        raise Forbidden("batch names devices of another tenant", code="foreign_device")
    revoked = {d.id for d in known.values() if d.revoked_at is not None}
    new_devices = [
        {"id": d, "tenant_id": tenant.id, "relay_id": relay.id, "name": d, "created_at": now}
        for d in device_ids if d not in known
    ]
    if new_devices:
        session.execute(_insert(session, Device).on_conflict_do_nothing(index_elements=["id"]), new_devices)
        owners = dict(session.execute(select(Device.id, Device.tenant_id).where(Device.id.in_([d["id"] for d in new_devices]))).all())
        if any(owner != tenant.id for owner in owners.values()):  # lost a race with another tenant
            raise Forbidden("batch names devices of another tenant", code="foreign_device")

    # Cameras: registered on first sight, within the plan's limit.
    cameras = {(c.device_id, c.name) for c in session.scalars(select(Camera).where(Camera.tenant_id == tenant.id))}
    wanted = [(e.device_id, e.camera) for e in batch.events] + [
        (h.device_id, c.camera) for h in batch.health for c in h.cameras
    ]
    unseen = [key for key in dict.fromkeys(wanted) if key not in cameras]
    # A camera added in the UI is called what its owner named it there.
    titles = device_config.configured_titles(session, {key[0] for key in unseen}) if unseen else {}
    for key in unseen:
        if key[0] not in revoked and len(cameras) < plan.max_cameras:
            session.execute(
                _insert(session, Camera).on_conflict_do_nothing(index_elements=["tenant_id", "device_id", "name"]),
                [{"id": str(uuid.uuid4()), "tenant_id": tenant.id, "device_id": key[0], "name": key[1],
                  "display_name": titles.get(key, key[1]), "updated_at": now}],
            )
            cameras.add(key)

    # Events: idempotent by (tenant, event id), newer versions update; older than retention or over the
    # camera limit: dropped.
    cutoff = now - timedelta(days=plan.retention_days)
    rows = []
    for ev in batch.events:
        start = _ts(ev.start)
        if (ev.device_id, ev.camera) not in cameras or start < cutoff or ev.device_id in revoked:
            outcome.rejected_events += 1
            continue
        rows.append({
            "tenant_id": tenant.id, "id": ev.event_id.lower(), "device_id": ev.device_id, "camera": ev.camera,
            "label": ev.label, "start_at": start, "end_at": _ts(ev.end) if ev.HasField("end") else None,
            "confidence": int(ev.confidence), "has_clip": ev.has_clip, "received_at": now,
            "zones_json": json.dumps(list(ev.zones)),
            "severity": "alert" if ev.severity == ingest_pb2.SEVERITY_ALERT else "detection",
            "review_item": ev.review_item.lower(),  # "" from an older edge: an item of its own
        })
    if rows:
        outcome.new_event_ids, outcome.updated_event_ids = _upsert_events(session, rows)
        written = set(outcome.new_event_ids) | set(outcome.updated_event_ids)
        conflicting = _mismatched(session, tenant.id, [r for r in rows if r["id"] not in written])
        outcome.rejected_events += conflicting
        rows_held = len(rows) - len(outcome.new_event_ids) - conflicting
    else:
        rows_held = 0
    # The contract's counts: new rows, and ids already held (updated or not), all acknowledged.
    outcome.result.events_accepted = len(outcome.new_event_ids)
    outcome.result.events_duplicate = rows_held

    # Health: the latest report wins; cameras' states follow. A device the relay revoked is revoked here
    # too (from then on nothing it reports is stored, and the relay's revocation list names it).
    for h in batch.health:
        outcome.result.health_accepted += 1
        if h.device_id in revoked:
            continue
        device = session.get(Device, h.device_id)
        assert device is not None
        if h.status == ingest_pb2.DeviceHealth.REVOKED:
            revoke_device(session, device, reason="revoked at the relay", by=f"relay:{relay.id}")
            revoked.add(h.device_id)
            continue
        # No last_seen: the relay has never heard from the device (proto3 presence; a relay reports an
        # enrolled device that has not connected yet as offline, "never connected"). That report is the
        # latest only while the cloud has not seen the device either; it never invents a time.
        seen = _ts(h.last_seen) if h.HasField("last_seen") else None
        # A relay whose clock runs ahead (within the accepted skew) must not make a device "seen in 12 seconds".
        seen = min(seen, now) if seen is not None else None
        if device.last_seen_at is None or (seen is not None and seen >= device.last_seen_at):
            device.status = _HEALTH_STATUS.get(int(h.status), "unknown")
            device.last_seen_at = seen
            # Free text from the device: control characters (NUL, which PostgreSQL refuses in text, line
            # breaks) become spaces rather than refusing the batch and holding back its events.
            device.agent_version = _CONTROL.sub(" ", h.agent_version)
            device.reason = _CONTROL.sub(" ", h.reason)
            device.relay_id = relay.id
        for cam in h.cameras:
            camera = session.scalars(
                select(Camera).where(Camera.tenant_id == tenant.id, Camera.device_id == h.device_id, Camera.name == cam.camera)
            ).first()
            if camera is not None:
                camera.state = cam.state or "unknown"
                camera.last_frame_at = _ts(cam.last_frame_at) if cam.HasField("last_frame_at") else camera.last_frame_at
                camera.fps, camera.bitrate_bps = cam.fps, cam.bitrate_bps
                camera.reason = _CONTROL.sub(" ", cam.reason) or None
                camera.updated_at = now

    # Archive records: idempotent by (tenant, CID); beyond the plan's bytes: refused (counted).
    if batch.archives:
        used = session.scalar(
            select(func.coalesce(func.sum(ArchiveRecord.size), 0)).where(ArchiveRecord.tenant_id == tenant.id)
        ) or 0
        for a in batch.archives:
            if used + a.size > plan.max_archive_bytes or a.device_id in revoked:
                outcome.rejected_archives += 1
                continue
            done = session.scalars(
                _insert(session, ArchiveRecord).on_conflict_do_nothing(index_elements=["tenant_id", "cid"]).returning(ArchiveRecord.cid),
                [{"tenant_id": tenant.id, "cid": a.cid, "event_id": a.event_id.lower(), "device_id": a.device_id,
                  "size": int(a.size), "stored_at": _ts(a.stored_at)}],
            ).all()
            if done:
                used += a.size
            outcome.result.archives_accepted += 1

    # Config reports: only for the tenant's devices as they are now (never enrols one); older ones ignored.
    for c in batch.config_status:
        device = session.get(Device, c.device_id)
        if device is None or device.tenant_id != tenant.id or device.revoked_at is not None:
            outcome.rejected_config_status += 1
            continue
        device_config.record_report(session, device, c, now)

    # Live streams hear of new events and of updated ones (the clip became available, the end is known),
    # and of nothing else: ids of versions that wrote nothing (a retry, an older version arriving late, one
    # contradicting the held row) are in neither list, and a batch that wrote no event says nothing.
    announced = outcome.new_event_ids + outcome.updated_event_ids
    if announced:
        bus.announce(session, tenant.id, announced)
    return outcome
