"""Relay → cloud ingestion: signatures, idempotency, tenant boundaries, strict validation, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import add_relay, signup

NOW = datetime.now(UTC).replace(microsecond=0)


def _setup(client, app):
    relay = add_relay(app, "relay-a")
    member = signup(client, "owner@a.example.org")
    return relay, member


def test_same_event_twice_is_one_row(client, app) -> None:
    relay, member = _setup(client, app)
    ev = batches.event("edge-1", "porch", "person", NOW - timedelta(minutes=1))
    body = batches.batch(relay.id, events=[ev], healths=[batches.health("edge-1", {"porch": "streaming"})])
    first = relay.post(client, "/api/v1/ingest", body)
    assert first.status_code == 200, first.text
    assert first.json() == {"eventsAccepted": 1, "eventsDuplicate": 0, "healthAccepted": 1, "archivesAccepted": 0}
    # The relay retries (same batch, new signature): acknowledged as a duplicate, still one row.
    second = relay.post(client, "/api/v1/ingest", body)
    assert second.json()["eventsAccepted"] == 0 and second.json()["eventsDuplicate"] == 1
    items = client.get("/api/v1/events", headers=member.auth).json()["items"]
    assert [e["id"] for e in items] == [ev.event_id]
    assert items[0]["camera"] == "porch" and items[0]["confidence"] == "high"
    devices = client.get("/api/v1/devices", headers=member.auth).json()
    assert [(d["id"], d["status"]) for d in devices] == [("edge-1", "healthy")]
    cameras = client.get("/api/v1/cameras", headers=member.auth).json()
    assert [(c["name"], c["state"]) for c in cameras] == [("porch", "streaming")]


def test_relay_cannot_write_for_another_tenant(client, app) -> None:
    relay_a, member_a = _setup(client, app)
    relay_b = add_relay(app, "relay-b")
    member_b = signup(client, "owner@b.example.org")
    ok = relay_b.post(client, "/api/v1/ingest", batches.batch(relay_b.id, events=[
        batches.event("edge-b", "yard", "car", NOW - timedelta(minutes=2))]))
    assert ok.status_code == 200
    # 1. A batch naming the other relay is refused.
    ev = batches.event("edge-a", "porch", "person", NOW)
    r = relay_a.post(client, "/api/v1/ingest", batches.batch(relay_b.id, events=[ev]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_relay"
    # 2. Signing as relay B with relay A's key fails the signature.
    body = batches.batch(relay_b.id, events=[ev])
    forged = auth.sign_relay_request(relay_a.key, relay_id=relay_b.id, method="POST", path="/api/v1/ingest", body=body)
    r = client.post("/api/v1/ingest", content=body, headers=forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "relay_auth"
    # 3. Writing events of tenant B's device through relay A is refused.
    r = relay_a.post(client, "/api/v1/ingest", batches.batch(relay_a.id, events=[
        batches.event("edge-b", "yard", "person", NOW)]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_device"
    # Tenant B still has exactly its one event; tenant A has none.
    assert len(client.get("/api/v1/events", headers=member_b.auth).json()["items"]) == 1
    assert client.get("/api/v1/events", headers=member_a.auth).json()["items"] == []


@pytest.mark.parametrize("scheme", ["legacy", "rfc9421"])
def test_signature_replay_and_tampering(client, app, scheme) -> None:
    """Both schemes are accepted (relays switch to RFC 9421 at their own pace) and refused alike."""
    relay, _ = _setup(client, app)

    def sign(path: str, body: bytes, **kwargs) -> dict[str, str]:
        return {**auth.sign_relay_request(relay.key, relay_id=relay.id, method="POST", path=path, body=body,
                                          scheme=scheme, **kwargs), "Content-Type": "application/json"}

    body = batches.batch(relay.id, events=[batches.event("edge-1", "porch", "person", NOW)])
    headers = sign("/api/v1/ingest", body)
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 200
    replay = client.post("/api/v1/ingest", content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "relay_replay"
    tampered = body.replace(b"person", b"dog")
    r = client.post("/api/v1/ingest", content=tampered, headers=sign("/api/v1/ingest", body))
    assert r.status_code == 401 and r.json()["error"]["code"] == "relay_auth"
    # Signed for another path (the consume route), sent to ingest.
    r = client.post("/api/v1/ingest", content=body, headers=sign("/api/v1/relay/bootstrap/consume", body))
    assert r.status_code == 401 and r.json()["error"]["code"] == "relay_auth"
    stale = sign("/api/v1/ingest", body, now=NOW.timestamp() - 3600)
    r = client.post("/api/v1/ingest", content=body, headers=stale)
    assert r.status_code == 401 and "window" in r.json()["error"]["message"]
    assert client.post("/api/v1/ingest", content=body).status_code == 401


def test_malformed_and_oversize(client, app) -> None:
    relay, _ = _setup(client, app)
    cases = {
        b"not json": "malformed_batch",
        json.dumps({"relayId": relay.id, "events": [{"eventId": "x", "bogusField": 1}]}).encode(): "malformed_batch",
        json.dumps({"relayId": relay.id, "events": [{"eventId": "not-a-uuid", "deviceId": "e", "camera": "c",
                                                     "label": "person", "start": "2024-01-01T00:00:00Z"}]}).encode(): "malformed_batch",
    }
    for body, code in cases.items():
        r = relay.post(client, "/api/v1/ingest", body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    r = relay.post(client, "/api/v1/ingest", json.dumps({"relayId": relay.id, "events": [
        {"eventId": "8d7b7c52-6a43-4f7e-9a55-0f1f5b8e1a11", "deviceId": "e", "camera": "c", "label": "",
         "start": (NOW + timedelta(hours=2)).isoformat().replace("+00:00", "Z")}]}).encode())
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert fields == {"events[0].label", "events[0].start"}
    huge = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    r = relay.post(client, "/api/v1/ingest", huge)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_free_plan_limits_cameras_and_retention(client, app) -> None:
    relay, member = _setup(client, app)
    plan = client.get("/api/v1/tenant/plan", headers=member.auth).json()
    assert plan["name"] == "free" and plan["max_cameras"] == 4 and plan["retention_days"] == 7
    events = [batches.event("edge-1", f"cam{i}", "person", NOW - timedelta(minutes=i)) for i in range(6)]
    events.append(batches.event("edge-1", "cam0", "person", NOW - timedelta(days=8)))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=events))
    assert r.json()["eventsAccepted"] == 4 and r.headers["x-guardian-rejected-events"] == "3"
    plan = client.get("/api/v1/tenant/plan", headers=member.auth).json()
    assert plan["cameras_used"] == 4
    big = batches.archive("edge-1", events[0].event_id, "b" + "a" * 58, plan["max_archive_bytes"] + 1)
    small = batches.archive("edge-1", events[0].event_id, "b" + "c" * 58, 1000)
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, archives=[big, small]))
    assert r.json()["archivesAccepted"] == 1 and r.headers["x-guardian-rejected-archives"] == "1"
    assert client.get("/api/v1/tenant/plan", headers=member.auth).json()["archive_bytes_used"] == 1000


def test_unassigned_relay_and_whoami(client, app) -> None:
    relay = add_relay(app, "relay-idle")
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[batches.event("e", "c", "person", NOW)]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "relay_unassigned"
    member = signup(client, "late@a.example.org")
    who = relay.get(client, "/api/v1/relay/whoami").json()
    assert who == {"relay_id": relay.id, "tenant_id": member.tenant_id}


def test_newer_version_of_an_event_updates_it(client, app) -> None:
    """The relay sends an event again as it learns more: the end, the clip once assembled, a higher
    confidence. Those versions update the one row; one adding nothing (a retry, a late older version)
    changes nothing; one naming another device or camera, or another label, never rewrites the event."""
    relay, member = _setup(client, app)
    start = NOW - timedelta(minutes=1)
    open_ = batches.event("edge-1", "porch", "person", start, has_clip=False, seconds=None,
                          confidence=ingest_pb2.CONFIDENCE_LOW)
    event_id = open_.event_id

    def post(*events) -> dict:
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=events))
        assert r.status_code == 200, r.text
        return {**r.json(), "rejected": int(r.headers["x-guardian-rejected-events"])}

    def stored() -> dict:
        items = client.get("/api/v1/events", headers=member.auth).json()["items"]
        assert [e["id"] for e in items] == [event_id]  # always exactly one row
        return items[0]

    assert post(open_)["eventsAccepted"] == 1
    first = stored()
    assert first["end_at"] is None and first["has_clip"] is False and first["confidence"] == "low"

    # The event ended and its clip was assembled: the newer version wins.
    done = batches.event("edge-1", "porch", "person", start, event_id=event_id.upper(), has_clip=True, seconds=9,
                         confidence=ingest_pb2.CONFIDENCE_HIGH)
    result = post(done)
    assert (result["eventsAccepted"], result["eventsDuplicate"], result["rejected"]) == (0, 1, 0)
    now = stored()
    assert now["has_clip"] is True and now["confidence"] == "high"
    assert datetime.fromisoformat(now["end_at"]) == start + timedelta(seconds=9)
    # The same version again, and the older version arriving late: acknowledged, nothing changes.
    for again in (done, open_):
        result = post(again)
        assert (result["eventsAccepted"], result["eventsDuplicate"], result["rejected"]) == (0, 1, 0)
        assert stored() == now
    # A later end is more information; an earlier one, or a clip that is "gone", is not applied.
    longer = batches.event("edge-1", "porch", "person", start, event_id=event_id, has_clip=False, seconds=12,
                           confidence=ingest_pb2.CONFIDENCE_MEDIUM)
    post(longer)
    latest = stored()
    assert datetime.fromisoformat(latest["end_at"]) == start + timedelta(seconds=12)
    assert latest["has_clip"] is True and latest["confidence"] == "high"
    # Device, camera and label are the event's identity: a version contradicting them is not applied,
    # so another device of the same tenant cannot take the event over.
    for device, camera, label in (("edge-2", "porch", "person"), ("edge-1", "garden", "person"),
                                  ("edge-1", "porch", "dog")):
        moved = batches.event(device, camera, label, start, event_id=event_id, seconds=60)
        result = post(moved)
        assert (result["eventsAccepted"], result["eventsDuplicate"], result["rejected"]) == (0, 0, 1)
        assert stored() == latest


def test_update_cannot_cross_tenants(client, app) -> None:
    """Relay B sending tenant A's event id: refused when it names A's device; with its own device it is
    B's own event (ids are per tenant) and A's row is untouched."""
    relay_a, member_a = _setup(client, app)
    relay_b = add_relay(app, "relay-b")
    member_b = signup(client, "owner@b.example.org")
    start = NOW - timedelta(minutes=3)
    ev = batches.event("edge-a", "porch", "person", start, has_clip=False, seconds=None)
    assert relay_a.post(client, "/api/v1/ingest", batches.batch(relay_a.id, events=[ev])).status_code == 200
    hijack = batches.event("edge-a", "porch", "person", start, event_id=ev.event_id, has_clip=True, seconds=5)
    r = relay_b.post(client, "/api/v1/ingest", batches.batch(relay_b.id, events=[hijack]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_device"
    own = batches.event("edge-b", "yard", "car", start, event_id=ev.event_id, has_clip=True, seconds=5)
    r = relay_b.post(client, "/api/v1/ingest", batches.batch(relay_b.id, events=[own]))
    assert r.status_code == 200 and r.json()["eventsAccepted"] == 1
    [a] = client.get("/api/v1/events", headers=member_a.auth).json()["items"]
    assert (a["device_id"], a["has_clip"], a["end_at"]) == ("edge-a", False, None)
    [b] = client.get("/api/v1/events", headers=member_b.auth).json()["items"]
    assert (b["id"], b["device_id"], b["has_clip"]) == (ev.event_id, "edge-b", True)


def test_health_without_last_seen(client, app) -> None:
    """DeviceHealth.last_seen is a message field (proto3 presence): a relay that never heard from a device
    reports it offline without one. Accepted; it never overrides a report that carries a time."""
    relay, member = _setup(client, app)
    never = batches.health("edge-new", {}, status=ingest_pb2.DeviceHealth.OFFLINE, last_seen=None)
    never.reason = "never connected"
    ev = batches.event("edge-1", "porch", "person", NOW - timedelta(minutes=1))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[ev], healths=[never]))
    assert r.status_code == 200, r.text
    assert r.json()["healthAccepted"] == 1 and r.json()["eventsAccepted"] == 1
    devices = {d["id"]: d for d in client.get("/api/v1/devices", headers=member.auth).json()}
    assert devices["edge-new"]["status"] == "offline" and devices["edge-new"]["last_seen_at"] is None
    # Seen once: a later report without a time (e.g. from a relay that lost its state) changes nothing.
    seen = NOW - timedelta(seconds=30)
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, healths=[
        batches.health("edge-new", {}, status=ingest_pb2.DeviceHealth.HEALTHY, last_seen=seen)]))
    assert r.status_code == 200, r.text
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, healths=[never]))
    assert r.status_code == 200, r.text
    device = client.get("/api/v1/devices/edge-new", headers=member.auth).json()
    assert device["status"] == "healthy" and datetime.fromisoformat(device["last_seen_at"]) == seen


def test_a_relay_clock_ahead_does_not_put_last_seen_in_the_future(client, app) -> None:
    """Found booting the images under QEMU: the relay's clock ran ahead and the Devices page said "last report
    in 12 seconds". A time ahead within the accepted skew is taken as the cloud's own now."""
    relay, member = _setup(client, app)
    ahead = datetime.now(UTC) + timedelta(seconds=90)
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, healths=[
        batches.health("edge-1", {}, status=ingest_pb2.DeviceHealth.HEALTHY, last_seen=ahead)]))
    assert r.status_code == 200, r.text
    answered = datetime.now(UTC)
    device = client.get("/api/v1/devices/edge-1", headers=member.auth).json()
    assert datetime.fromisoformat(device["last_seen_at"]) <= answered


def test_end_never_moves_backwards(client, app) -> None:
    """An older version arriving late carries an earlier end: the stored end stays the latest known,
    whether that version adds nothing else (a duplicate) or brings something new (a higher confidence,
    which is applied while the end is kept)."""
    relay, member = _setup(client, app)
    start = NOW - timedelta(minutes=2)
    first = batches.event("edge-1", "porch", "person", start, has_clip=False, seconds=30,
                          confidence=ingest_pb2.CONFIDENCE_LOW)

    def post(ev) -> tuple[int, int, int]:
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[ev]))
        assert r.status_code == 200, r.text
        return r.json()["eventsAccepted"], r.json()["eventsDuplicate"], int(r.headers["x-guardian-rejected-events"])

    def stored() -> dict:
        [item] = client.get("/api/v1/events", headers=member.auth).json()["items"]
        return item

    assert post(first) == (1, 0, 0)
    end = start + timedelta(seconds=30)
    # Only an earlier end: nothing new, acknowledged as a duplicate, nothing changes.
    earlier = batches.event("edge-1", "porch", "person", start, event_id=first.event_id, has_clip=False, seconds=10,
                            confidence=ingest_pb2.CONFIDENCE_LOW)
    assert post(earlier) == (0, 1, 0)
    assert datetime.fromisoformat(stored()["end_at"]) == end
    # An earlier end with a higher confidence: the confidence is applied, the end is not.
    stale_but_surer = batches.event("edge-1", "porch", "person", start, event_id=first.event_id, has_clip=True,
                                    seconds=5, confidence=ingest_pb2.CONFIDENCE_MEDIUM)
    assert post(stale_but_surer) == (0, 1, 0)
    item = stored()
    assert item["confidence"] == "medium" and item["has_clip"] is True
    assert datetime.fromisoformat(item["end_at"]) == end
    # One microsecond earlier is earlier too; one later wins.
    almost = batches.event("edge-1", "porch", "person", start, event_id=first.event_id, seconds=None,
                           confidence=ingest_pb2.CONFIDENCE_MEDIUM)
    almost.end.FromDatetime(end - timedelta(microseconds=1))
    assert post(almost) == (0, 1, 0)
    assert datetime.fromisoformat(stored()["end_at"]) == end
    later = batches.event("edge-1", "porch", "person", start, event_id=first.event_id, seconds=None,
                          confidence=ingest_pb2.CONFIDENCE_LOW)
    later.end.FromDatetime(end + timedelta(microseconds=1))
    post(later)
    item = stored()
    assert datetime.fromisoformat(item["end_at"]) == end + timedelta(microseconds=1)
    assert item["confidence"] == "medium"


def test_only_written_events_are_published(client, app) -> None:
    """Live streams hear of an event when its row is inserted or changed, never for a version that adds
    nothing (a retry, an older version late, a contradicting one): counted at the bus, no timing involved."""
    relay, _member = _setup(client, app)
    bus = app.state.cloud.bus
    published: list[list[str]] = []
    announce = bus.announce

    def record(session, tenant_id, ids) -> None:
        published.append(list(ids))
        announce(session, tenant_id, ids)

    bus.announce = record
    start = NOW - timedelta(minutes=1)
    open_ = batches.event("edge-1", "porch", "person", start, has_clip=False, seconds=None)
    done = batches.event("edge-1", "porch", "person", start, event_id=open_.event_id, has_clip=True, seconds=6)
    other = batches.event("edge-1", "yard", "car", start)

    def post(*events, healths=()) -> list[str]:
        published.clear()
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=events, healths=healths))
        assert r.status_code == 200, r.text
        return sorted(i for ids in published for i in ids)

    assert post(open_) == [open_.event_id]
    assert post(done) == [open_.event_id]  # changed: published
    assert post(done) == []  # the same version again
    assert post(open_) == []  # the older version, late
    assert post(batches.event("edge-1", "porch", "dog", start, event_id=open_.event_id, seconds=60)) == []
    assert post(done, other) == [other.event_id]  # in one batch: only the new one
    assert post(healths=[batches.health("edge-1", {"porch": "streaming"})]) == []
    assert published == []  # nothing to say: the bus is not called at all
