"""The event inventory's queries: newest-first pages with a keyset cursor, and counts per hour/day.

Kept apart from the routes so the benchmark measures exactly what the API runs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from cloud.core.errors import ApiError
from cloud.services.reviews import reviewed_by
from cloud.tables import Event

CONFIDENCE_NAMES = {0: "unspecified", 1: "low", 2: "medium", 3: "high"}


# A cursor is "<start time in µs since 1970 (UTC)>~<event id>": readable, and every string the pattern
# allows is a position in the inventory, so a schema-valid cursor is never refused. At most 2.5e17 µs
# (year 9892) keeps the arithmetic inside datetime's range; the id is an event id (no control characters).
CURSOR_PATTERN = r"^([0-9]{1,17}|[01][0-9]{17}|2[0-4][0-9]{16})~[^\x00-\x1f\x7f]{1,64}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(start_at: datetime, event_id: str) -> str:
    return f"{(start_at - _EPOCH) // _MICROSECOND}~{event_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    # fullmatch: Python's "$" would also accept a trailing line break.
    if not _CURSOR.fullmatch(cursor):
        raise ApiError("cursor is not valid", code="bad_cursor", status=422)
    micros, event_id = cursor.split("~", 1)
    return _EPOCH + int(micros) * _MICROSECOND, event_id


def filtered(
    tenant_id: str,
    *,
    camera: str | None = None,
    label: str | None = None,
    zone: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    severity: str | None = None,
    reviewed: bool | None = None,
    user_id: str | None = None,
    review_item: str | None = None,
) -> Select[Event]:
    """The tenant's events matching every filter given; ``reviewed`` is the state of member ``user_id``;
    ``review_item``: the events of that review item (an event the edge sent without one is an item of its
    own, named by its id)."""
    stmt = select(Event).where(Event.tenant_id == tenant_id)
    if review_item:
        stmt = stmt.where(or_(Event.review_item == review_item, and_(Event.review_item == "", Event.id == review_item)))
    if camera:
        stmt = stmt.where(Event.camera == camera)
    if label:
        stmt = stmt.where(Event.label == label)
    if severity:
        stmt = stmt.where(Event.severity == severity)
    if reviewed is not None:
        if user_id is None:
            raise ValueError("the reviewed filter needs the member")
        stmt = stmt.where(reviewed_by(user_id) if reviewed else ~reviewed_by(user_id))
    if zone:
        # Zone names hold no quote, so '"name"' matches exactly that element of the JSON list (autoescape:
        # "_" is a LIKE wildcard).
        stmt = stmt.where(Event.zones_json.contains(f'"{zone}"', autoescape=True))
    if since is not None:
        stmt = stmt.where(Event.start_at >= since)
    if until is not None:
        stmt = stmt.where(Event.start_at < until)
    return stmt


def page(
    session: Session, base: Select[Event], *, limit: int, cursor: str | None
) -> tuple[list[Event], str | None]:
    """One page, newest first (start time, then id, both descending); the next cursor or None."""
    stmt = base
    if cursor:
        when, event_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Event.start_at, Event.id) < tuple_(when, event_id))
    rows = list(session.scalars(stmt.order_by(Event.start_at.desc(), Event.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].start_at, rows[-1].id) if more and rows else None)


def _bucket_key(session: Session, bucket: Literal["hour", "day"]) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(bucket, func.timezone("UTC", Event.start_at))
    fmt = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(fmt, Event.start_at)


def _utc(value: object) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def counts(
    session: Session, base: Select[Event], bucket: Literal["hour", "day"]
) -> list[tuple[datetime, int]]:
    """Events per hour or day (UTC) within the filtered set, oldest first."""
    sub = base.with_only_columns(_bucket_key(session, bucket).label("bucket")).subquery()
    stmt = select(sub.c.bucket, func.count()).group_by(sub.c.bucket).order_by(sub.c.bucket)
    return [(_utc(value), int(count)) for value, count in session.execute(stmt)]


def counts_by_label(
    session: Session, base: Select[Event], bucket: Literal["hour", "day"]
) -> list[tuple[datetime, str, int]]:
    """Events per hour or day (UTC) and label within the filtered set, oldest first, then by label."""
    sub = base.with_only_columns(_bucket_key(session, bucket).label("bucket"), Event.label.label("label")).subquery()
    stmt = (select(sub.c.bucket, sub.c.label, func.count()).group_by(sub.c.bucket, sub.c.label)
            .order_by(sub.c.bucket, sub.c.label))
    return [(_utc(value), str(label), int(count)) for value, label, count in session.execute(stmt)]
