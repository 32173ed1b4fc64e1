"""Review items in the cloud (issue #20): the timeline lists a camera's overlapping activity as the edge
grouped it, one row per item (older edges' events are items of one), with the reviewing filters, paging,
each member's reviewed state per item, and the item's events (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import Member, RelayHandle, add_relay, login, signup

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
WALK, VAN = str(uuid.uuid4()), str(uuid.uuid4())


def _household(client, app) -> tuple[Member, Member, dict[str, list[str]], RelayHandle]:
    """An owner and a partner; on the porch, two people and a dog walking by together (one item, a person
    in the gate zone: an alert), then a van (an item of one); in the yard, two cars from an older edge
    (no item: each its own)."""
    relay = add_relay(app, "relay-a")
    owner = signup(client, "owner@a.example.org")
    r = client.post("/api/v1/tenant/members", headers=owner.auth,
                    json={"email": "partner@a.example.org", "password": "partner password 1", "role": "viewer"})
    assert r.status_code == 201, r.text
    partner = Member("partner@a.example.org", "partner password 1", login(client, "partner@a.example.org", "partner password 1"),
                     owner.tenant_id, r.json()["id"])
    walk = [batches.event("edge-1", "porch", "person", BASE, review_item=WALK, confidence=ingest_pb2.CONFIDENCE_MEDIUM),
            batches.event("edge-1", "porch", "dog", BASE + timedelta(seconds=3), review_item=WALK, zones=("lawn",),
                          confidence=ingest_pb2.CONFIDENCE_MEDIUM),
            batches.event("edge-1", "porch", "person", BASE + timedelta(seconds=5), review_item=WALK, seconds=None,
                          zones=("gate", "lawn"), confidence=ingest_pb2.CONFIDENCE_HIGH)]
    walk[2].severity = ingest_pb2.SEVERITY_ALERT
    van = [batches.event("edge-1", "porch", "truck", BASE + timedelta(minutes=3), review_item=VAN.upper())]
    yard = [batches.event("edge-1", "yard", "car", BASE + timedelta(minutes=10 + i)) for i in range(2)]
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=walk + van + yard))
    assert r.json()["eventsAccepted"] == 6, r.text
    ids = {"walk": [e.event_id for e in walk], "van": [van[0].event_id], "yard": [e.event_id for e in yard]}
    return owner, partner, ids, relay


def _items(client, member, **params) -> list[dict[str, Any]]:
    r = client.get("/api/v1/review-items", params=params, headers=member.auth)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_the_timeline_lists_items_with_their_summary(client, app) -> None:
    owner, _, ids, _ = _household(client, app)
    items = _items(client, owner)
    assert [i["id"] for i in items] == [*reversed(ids["yard"]), VAN, WALK]  # newest first; the edge's item ids
    walk = items[-1]
    assert walk == {
        "id": WALK, "device_id": "edge-1", "camera": "porch", "start_at": walk["start_at"], "end_at": None,  # one still going on
        "labels": ["person", "dog"], "zones": ["lawn", "gate"], "severity": "alert", "event_count": 3,
        "best_event_id": ids["walk"][2], "reviewed": False,
    }
    assert datetime.fromisoformat(walk["start_at"]) == BASE
    assert items[0]["event_count"] == 1 and items[0]["best_event_id"] == ids["yard"][1]  # an older edge's: an item of one
    assert items[2]["end_at"] is not None and items[2]["labels"] == ["truck"]
    # An item's events, for expanding it.
    r = client.get("/api/v1/events", params={"review_item": WALK}, headers=owner.auth)
    assert sorted(e["id"] for e in r.json()["items"]) == sorted(ids["walk"])
    assert {e["review_item"] for e in r.json()["items"]} == {WALK}
    (old,) = client.get("/api/v1/events", params={"review_item": ids["yard"][0]}, headers=owner.auth).json()["items"]
    assert old["review_item"] == ids["yard"][0]


def test_filters_select_whole_items_and_pages_follow_the_cursor(client, app) -> None:
    owner, _, ids, _ = _household(client, app)
    assert [i["id"] for i in _items(client, owner, label="dog")] == [WALK]
    assert _items(client, owner, label="dog")[0]["labels"] == ["person", "dog"]  # the item, not just its dog
    assert [i["id"] for i in _items(client, owner, zone="gate")] == [WALK]
    assert [i["id"] for i in _items(client, owner, severity="alert")] == [WALK]
    assert WALK not in [i["id"] for i in _items(client, owner, severity="detection")]  # an alert item: not a detection
    assert [i["id"] for i in _items(client, owner, camera="yard")] == list(reversed(ids["yard"]))
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/review-items", params=params, headers=owner.auth).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [*reversed(ids["yard"]), VAN, WALK]


def test_an_item_is_reviewed_per_member_when_all_its_events_are(client, app) -> None:
    owner, partner, ids, _ = _household(client, app)
    assert client.put(f"/api/v1/reviews/events/{ids['walk'][0]}", headers=owner.auth).status_code == 204
    assert [i["id"] for i in _items(client, owner, reviewed="true")] == []  # one of three: not yet
    assert client.put(f"/api/v1/review-items/{WALK}/reviewed", headers=owner.auth).status_code == 204
    assert [i["id"] for i in _items(client, owner, reviewed="true")] == [WALK]
    assert WALK not in [i["id"] for i in _items(client, owner, reviewed="false")]
    assert all(not i["reviewed"] for i in _items(client, partner))  # the partner's state is their own
    # Marking an item marks its events: the unread counts (per event) follow.
    unread = client.get("/api/v1/reviews/unread", headers=owner.auth).json()
    assert unread["total"] == 3
    assert client.delete(f"/api/v1/review-items/{WALK}/reviewed", headers=owner.auth).status_code == 204
    assert client.get("/api/v1/reviews/unread", headers=owner.auth).json()["total"] == 6
    # An item of one (an older edge's event) is marked by its event's id.
    assert client.put(f"/api/v1/review-items/{ids['yard'][0]}/reviewed", headers=owner.auth).status_code == 204
    assert [i["id"] for i in _items(client, owner, reviewed="true")] == [ids["yard"][0]]
    assert client.put(f"/api/v1/review-items/{uuid.uuid4()}/reviewed", headers=owner.auth).status_code == 404


def test_an_event_moved_to_another_item_follows_it(client, app) -> None:
    """The edge moves a parked vehicle's event to the item of when it drove off: the newer version wins."""
    owner, _, ids, relay = _household(client, app)
    moved = batches.event("edge-1", "porch", "truck", BASE + timedelta(minutes=3), event_id=ids["van"][0], review_item=WALK)
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[moved]))
    assert r.status_code == 200, r.text
    items = {i["id"]: i for i in _items(client, owner)}
    assert VAN not in items and items[WALK]["event_count"] == 4 and "truck" in items[WALK]["labels"]
    # A later version without an item (through an older relay) keeps the one held.
    later = batches.event("edge-1", "porch", "truck", BASE + timedelta(minutes=3), event_id=ids["van"][0], seconds=30)
    assert relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[later])).status_code == 200
    items = {i["id"]: i for i in _items(client, owner)}
    assert VAN not in items and items[WALK]["event_count"] == 4
