"""Members' push notifications: their browsers' subscriptions, their rules, and which announced events
notify whom.

Rules are one set per member: cameras (ids), labels and zones (an empty list: any), severity ("all", or
"alert": only events the edge judged alerts), daily quiet hours in the member's time zone (judged at the
event's start), on/off. :func:`claim` turns announced events into notifications, one per review item (the
edge's ``Event.review_item``; an event without one is an item of its own, as in services/review_items.py): for
each member of the tenant with a subscribed browser whose rules an event matches, it inserts a claim (tenant,
event, member, item), unique per (tenant, item, member), and only the claims this transaction inserted are
sent. So a member hears of a visit once, at the first version of the first of its events that matches (a later
event of the item, or a later version that adds a zone, can match when the first did not), whichever replica
heard the announcement, and never again for a retried batch.

The payload holds what the cloud has and no more: label, camera display name, zones, start time, event id,
review item id and the event page's path (the page shows the item's events; its picture is fetched through the
relay when the page opens).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.core.csp import covered, origin_of
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, NotFound
from cloud.core.webpush import Delivery
from cloud.tables import Camera, Event, NotificationRules, PushClaim, PushSubscription, User

MAX_SUBSCRIPTIONS_PER_MEMBER = 20  # browsers and devices; the oldest goes when a new one comes
SEVERITIES = ("all", "alert")  # what a member's rules may ask for: every event, or alerts only


class InvalidRules(ApiError):
    status = 422
    code = "invalid_rules"


class InvalidSubscription(ApiError):
    status = 422
    code = "invalid_subscription"


@dataclass(frozen=True, slots=True)
class Rules:
    enabled: bool
    cameras: list[str]
    labels: list[str]
    zones: list[str]
    quiet_start: str | None
    quiet_end: str | None
    time_zone: str
    severity: str  # one of SEVERITIES


DEFAULT_RULES = Rules(enabled=True, cameras=[], labels=[], zones=[], quiet_start=None, quiet_end=None,
                      time_zone="UTC", severity="all")


def _rules(row: NotificationRules | None) -> Rules:
    if row is None:
        return DEFAULT_RULES
    return Rules(enabled=row.enabled, cameras=json.loads(row.cameras_json), labels=json.loads(row.labels_json),
                 zones=json.loads(row.zones_json), quiet_start=row.quiet_start, quiet_end=row.quiet_end,
                 time_zone=row.time_zone, severity=row.severity)


def rules_of(session: Session, user: User) -> Rules:
    return _rules(session.get(NotificationRules, user.id))


def save_rules(session: Session, user: User, tenant_id: str, rules: Rules) -> Rules:
    """Replace the member's rules; cameras must be the tenant's, the time zone a known IANA name."""
    try:
        ZoneInfo(rules.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRules(f"unknown time zone {rules.time_zone!r}") from None
    if (rules.quiet_start is None) != (rules.quiet_end is None) or (
            rules.quiet_start is not None and rules.quiet_start == rules.quiet_end):
        raise InvalidRules("quiet hours need a start and a different end")
    if rules.severity not in SEVERITIES:
        raise InvalidRules(f"severity must be one of {', '.join(SEVERITIES)}")
    if rules.cameras:
        held = set(session.scalars(select(Camera.id).where(Camera.tenant_id == tenant_id,
                                                           Camera.id.in_(rules.cameras))))
        unknown = [c for c in rules.cameras if c not in held]
        if unknown:
            raise InvalidRules(f"unknown camera {unknown[0]!r}")
    row = session.get(NotificationRules, user.id)
    if row is None:
        row = NotificationRules(user_id=user.id, tenant_id=tenant_id)
        session.add(row)
    row.enabled = rules.enabled
    row.cameras_json, row.labels_json, row.zones_json = (json.dumps(sorted(set(v))) for v in
                                                         (rules.cameras, rules.labels, rules.zones))
    row.quiet_start, row.quiet_end, row.time_zone = rules.quiet_start, rules.quiet_end, rules.time_zone
    row.severity = rules.severity
    row.updated_at = utcnow()
    session.flush()
    return _rules(row)


def subscriptions_of(session: Session, user: User) -> Sequence[PushSubscription]:
    stmt = select(PushSubscription).where(PushSubscription.user_id == user.id)
    return session.scalars(stmt.order_by(PushSubscription.created_at, PushSubscription.id)).all()


def _b64url(value: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(f"{what} is not base64url") from None


def subscribe(session: Session, user: User, tenant_id: str, endpoint: str, p256dh: str, auth: str,
              allowed_origins: list[str]) -> tuple[PushSubscription, bool]:
    """This browser's subscription for the member (keys replaced if it was held); (row, created). The endpoint
    must be at one of ``allowed_origins`` (the push services the cloud will POST to)."""
    origin = origin_of(endpoint)
    if origin is None or not covered(origin, allowed_origins):
        raise InvalidSubscription("the endpoint is not at a push service this cloud sends to")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(p256dh, "p256dh"))
    except ValueError:
        raise InvalidSubscription("p256dh is not a P-256 public key (uncompressed point)") from None
    if len(_b64url(auth, "auth")) != 16:
        raise InvalidSubscription("auth must be 16 bytes")
    row = session.scalars(select(PushSubscription).where(PushSubscription.user_id == user.id,
                                                         PushSubscription.endpoint == endpoint)).first()
    created = row is None
    if row is None:
        held = subscriptions_of(session, user)
        for old in held[: max(0, len(held) - MAX_SUBSCRIPTIONS_PER_MEMBER + 1)]:
            session.delete(old)
        row = PushSubscription(tenant_id=tenant_id, user_id=user.id, endpoint=endpoint)
        session.add(row)
    row.p256dh, row.auth = p256dh, auth
    session.flush()
    return row, created


def unsubscribe(session: Session, user: User, subscription_id: str) -> None:
    row = session.get(PushSubscription, subscription_id)
    if row is None or row.user_id != user.id:
        raise NotFound("subscription not found")
    session.delete(row)


def forget(session: Session, subscription_ids: list[str]) -> None:
    """Subscriptions whose push service answered 404/410: gone for good."""
    session.execute(delete(PushSubscription).where(PushSubscription.id.in_(subscription_ids)))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def quiet(rules: Rules, at: datetime) -> bool:
    """Whether ``at`` falls in the member's quiet hours (start inclusive, end exclusive, may wrap midnight)."""
    if rules.quiet_start is None or rules.quiet_end is None:
        return False
    local: time = at.astimezone(ZoneInfo(rules.time_zone)).time()
    now, start, end = local.hour * 60 + local.minute, _minutes(rules.quiet_start), _minutes(rules.quiet_end)
    return start <= now < end if start < end else (now >= start or now < end)


def matches(rules: Rules, event: Event, camera_id: str | None, zones: list[str]) -> bool:
    return (rules.enabled
            and (not rules.cameras or camera_id in rules.cameras)
            and (not rules.labels or event.label in rules.labels)
            and (not rules.zones or any(zone in rules.zones for zone in zones))
            and (rules.severity == "all" or event.severity == "alert")
            and not quiet(rules, event.start_at))


def item_key(event: Event) -> str:
    """The event's review item; an event the edge grouped into none is an item of its own."""
    return event.review_item or event.id


def payload(event: Event, camera_name: str, zones: list[str]) -> str:
    start = event.start_at.isoformat().replace("+00:00", "Z")
    return json.dumps({"event_id": event.id, "review_item": item_key(event), "label": event.label,
                       "camera": camera_name, "zones": zones, "start": start, "url": f"/events/{event.id}"},
                      separators=(",", ":"))


def claim(session: Session, tenant_id: str, ids: list[str], max_age: timedelta) -> list[Delivery]:
    """The notifications ``ids`` make (see the module's doc), claimed in this transaction; the caller commits."""
    events = session.scalars(select(Event).where(Event.tenant_id == tenant_id, Event.id.in_(ids),
                                                 Event.start_at >= utcnow() - max_age)).all()
    if not events:
        return []
    subscriptions: dict[str, list[PushSubscription]] = {}
    for sub in session.scalars(select(PushSubscription).where(PushSubscription.tenant_id == tenant_id)):
        subscriptions.setdefault(sub.user_id, []).append(sub)
    if not subscriptions:
        return []
    rules = {row.user_id: _rules(row) for row in session.scalars(
        select(NotificationRules).where(NotificationRules.user_id.in_(list(subscriptions))))}
    cameras = {(c.device_id, c.name): c for c in session.scalars(select(Camera).where(
        Camera.tenant_id == tenant_id, tuple_(Camera.device_id, Camera.name).in_({(e.device_id, e.camera) for e in events})))}
    # Per (item, member), the earliest matching event of the batch: several events of one visit often come
    # in one batch, and only one of them may notify.
    wanted: dict[tuple[str, str], Event] = {}
    for event in sorted(events, key=lambda e: (e.start_at, e.id)):
        camera = cameras.get((event.device_id, event.camera))
        zones = json.loads(event.zones_json)
        for user_id in subscriptions:
            if matches(rules.get(user_id, DEFAULT_RULES), event, camera.id if camera else None, zones):
                wanted.setdefault((item_key(event), user_id), event)
    if not wanted:
        return []
    now = utcnow()
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(PushClaim)
    # A conflict on either key (this event, or this item, already claimed for the member) inserts nothing.
    claimed = session.execute(insert.values([
        {"tenant_id": tenant_id, "event_id": wanted[key].id, "user_id": key[1], "item_key": key[0], "claimed_at": now}
        for key in sorted(wanted)  # one lock order between replicas
    ]).on_conflict_do_nothing().returning(PushClaim.item_key, PushClaim.user_id)).all()
    deliveries: list[Delivery] = []
    for item, user_id in claimed:
        event = wanted[(item, user_id)]
        camera = cameras.get((event.device_id, event.camera))
        body = payload(event, camera.display_name or camera.name if camera else event.camera,
                       json.loads(event.zones_json))
        deliveries.extend(Delivery(s.id, s.endpoint, s.p256dh, s.auth, body) for s in subscriptions[user_id])
    return deliveries
