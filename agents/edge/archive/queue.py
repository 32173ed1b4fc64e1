"""The durable archive queue: one row per event to archive, in the edge database.

Status: ``queued`` (matched by the policy, nothing done yet) → ``uploading`` (encrypted copy made, upload
id fixed; resumed from the relay's offset after any interruption) → ``stored`` (the relay stored it
under ``cid``, which the edge checked against its own hash) | ``over_quota`` (refused by the plan's
archive quota, reason kept) | ``failed`` (clip missing, or ``max_attempts`` failures; reason kept).
``guardian-edge archive retry EVENT`` puts an over_quota or failed item back to ``queued``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.edge.archive.config import ArchiveSettings
from agents.edge.db.tables import ArchiveItem, EventRow

STATUSES = ("queued", "uploading", "stored", "over_quota", "failed")
ACTIVE = ("queued", "uploading")


def now() -> datetime:
    return datetime.now(UTC)


def enqueue_matching(session: Session, policy: ArchiveSettings, limit: int = 500) -> list[str]:
    """Queue ended events with a clip that the policy selects and that are not queued yet."""
    stmt = (
        select(EventRow.id)
        .outerjoin(ArchiveItem, ArchiveItem.event_id == EventRow.id)
        .where(ArchiveItem.event_id.is_(None), EventRow.ended.is_(True), EventRow.clip_ref != "")
    )
    if policy.cameras:
        stmt = stmt.where(EventRow.camera.in_(policy.cameras))
    if policy.labels:
        stmt = stmt.where(EventRow.label.in_(policy.labels))
    ids = list(session.scalars(stmt.order_by(EventRow.start_at).limit(limit)))
    for event_id in ids:
        session.add(ArchiveItem(event_id=event_id, upload_id=uuid.uuid4().hex))
    return ids


def next_due(session: Session, at: datetime | None = None) -> ArchiveItem | None:
    at = at or now()
    return session.scalars(
        select(ArchiveItem)
        .where(ArchiveItem.status.in_(ACTIVE), ArchiveItem.next_attempt_at <= at)
        .order_by(ArchiveItem.next_attempt_at, ArchiveItem.created_at)
        .limit(1)
    ).first()


def items(session: Session, status: str | None = None, limit: int = 1000) -> Sequence[ArchiveItem]:
    stmt = select(ArchiveItem)
    if status:
        stmt = stmt.where(ArchiveItem.status == status)
    return list(session.scalars(stmt.order_by(ArchiveItem.created_at.desc()).limit(limit)))


def retry(session: Session, event_id: str) -> bool:
    """Put an over_quota or failed item back in the queue (a fresh upload id and encrypted copy)."""
    item = session.get(ArchiveItem, event_id)
    if item is None or item.status not in ("over_quota", "failed"):
        return False
    item.status, item.attempts, item.reason = "queued", 0, ""
    item.upload_id, item.ciphertext, item.size, item.sha256, item.cid = uuid.uuid4().hex, "", 0, "", ""
    item.next_attempt_at = item.updated_at = now()
    return True
