"""Reviewing per review item (issue #20): each member's unread items per camera and "mark all reviewed" for
the items page's filters, with another member's state untouched and another tenant's items (even under the
same item id) out of reach (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.cloud import batches
from tests.cloud.conftest import Member, add_relay, signup
from tests.cloud.test_review_items import BASE, WALK, _household, _items


def _unread(client, member: Member, **params: Any) -> dict[str, int]:
    r = client.get("/api/v1/review-items/unread", params=params, headers=member.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    return {"total": body["total"], **{c["camera"]: c["count"] for c in body["cameras"]}}


def _mark_all(client, member: Member, **body: Any) -> dict[str, int]:
    r = client.post("/api/v1/review-items/reviewed", json=body, headers=member.auth)
    assert r.status_code == 200, r.text
    result: dict[str, int] = r.json()
    return result


def test_unread_counts_items_per_camera_per_member(client, app) -> None:
    owner, partner, ids, _ = _household(client, app)
    # The porch: the walk (3 events) and the van; the yard: two items of one event each.
    assert _unread(client, owner) == {"total": 4, "porch": 2, "yard": 2}
    # An item stays unread while any of its events is.
    assert client.put(f"/api/v1/reviews/events/{ids['walk'][0]}", headers=owner.auth).status_code == 204
    assert _unread(client, owner) == {"total": 4, "porch": 2, "yard": 2}
    assert client.put(f"/api/v1/review-items/{WALK}/reviewed", headers=owner.auth).status_code == 204
    assert _unread(client, owner) == {"total": 3, "porch": 1, "yard": 2}
    assert _unread(client, partner) == {"total": 4, "porch": 2, "yard": 2}  # the partner's own state
    # The items page's filters: severity is the whole item's, a label or zone selects whole items.
    assert _unread(client, partner, severity="alert") == {"total": 1, "porch": 1}
    assert _unread(client, partner, severity="detection") == {"total": 3, "porch": 1, "yard": 2}
    assert _unread(client, partner, label="dog") == {"total": 1, "porch": 1}
    assert _unread(client, partner, zone="gate") == {"total": 1, "porch": 1}
    assert _unread(client, partner, camera="yard") == {"total": 2, "yard": 2}
    assert _unread(client, partner, since=(BASE + timedelta(minutes=1)).isoformat()) == {"total": 3, "porch": 1, "yard": 2}
    # The counts agree with the list's unreviewed items.
    assert len(_items(client, partner, reviewed="false")) == 4 and len(_items(client, owner, reviewed="false")) == 3


def test_mark_all_marks_whole_items_matching_the_filters(client, app) -> None:
    owner, partner, _ids, relay = _household(client, app)
    # A label selects whole items: the dog's walk is marked with its people (3 events).
    assert _mark_all(client, owner, label="dog") == {"items": 1, "events": 3}
    assert _mark_all(client, owner, label="dog") == {"items": 0, "events": 0}  # again: nothing left
    assert [i["id"] for i in _items(client, owner, reviewed="true")] == [WALK]
    # severity is the whole item's: the walk is an alert, so "detections" leaves it alone.
    assert _mark_all(client, partner, severity="detection", camera="porch") == {"items": 1, "events": 1}
    assert _unread(client, partner) == {"total": 3, "porch": 1, "yard": 2}
    assert _unread(client, owner) == {"total": 3, "porch": 1, "yard": 2}  # each member's own state

    # A later event of the walk arrives after the list was loaded: it stays unreviewed, and so does the
    # walk; the van and the yard's items started after the list was loaded: untouched.
    later = batches.event("edge-1", "porch", "person", BASE + timedelta(minutes=1), review_item=WALK)
    assert relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[later])).status_code == 200
    loaded_at = (BASE + timedelta(seconds=30)).isoformat()
    assert _mark_all(client, partner, loaded_at=loaded_at) == {"items": 1, "events": 3}
    walk = next(i for i in _items(client, partner) if i["id"] == WALK)
    assert walk["event_count"] == 4 and walk["reviewed"] is False
    assert _unread(client, partner) == {"total": 3, "porch": 1, "yard": 2}  # the walk again (the van was marked)
    # until is the filter: items that started before it, each with all of its events.
    assert _mark_all(client, partner, until=(BASE + timedelta(minutes=2)).isoformat()) == {"items": 1, "events": 1}
    assert _mark_all(client, partner) == {"items": 2, "events": 2}
    assert _unread(client, partner) == {"total": 0}
    assert all(i["reviewed"] for i in _items(client, partner))
    assert _unread(client, owner) == {"total": 4, "porch": 2, "yard": 2}  # the walk's later event, the van, the yard


def test_another_tenants_items_are_out_of_reach(client, app) -> None:
    owner, _, _, _ = _household(client, app)
    relay_b = add_relay(app, "relay-b")
    other = signup(client, "owner@b.example.org")
    # The same item id from another tenant's edge: still two separate items.
    theirs = batches.event("edge-b", "gate", "person", BASE, review_item=WALK)
    assert relay_b.post(client, "/api/v1/ingest", batches.batch(relay_b.id, events=[theirs])).status_code == 200
    assert _unread(client, other) == {"total": 1, "gate": 1}
    assert _mark_all(client, other) == {"items": 1, "events": 1}
    assert _unread(client, other) == {"total": 0}
    assert _unread(client, owner) == {"total": 4, "porch": 2, "yard": 2}
    walk = next(i for i in _items(client, owner) if i["id"] == WALK)
    assert walk["event_count"] == 3 and walk["camera"] == "porch" and walk["reviewed"] is False
    assert _mark_all(client, owner, camera="gate") == {"items": 0, "events": 0}  # their camera: none of ours
    assert _unread(client, other) == {"total": 0} and _unread(client, owner)["total"] == 4
