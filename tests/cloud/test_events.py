"""The event inventory: filters and pagination return exactly the right rows; counts; retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.core.db import session_scope
from cloud.services.retention import cleanup
from cloud.tables import Event
from tests.cloud import batches
from tests.cloud.conftest import add_relay, signup

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)


def _load(client, app):
    relay = add_relay(app, "relay-a")
    member = signup(client, "owner@a.example.org")
    events = []
    # 60 events, one every 30 minutes, cycling 2 cameras and 3 labels; two share a start time.
    for i in range(60):
        start = BASE + timedelta(minutes=30 * i)
        events.append(batches.event("edge-1", ("porch", "yard")[i % 2], ("person", "car", "cat")[i % 3], start))
    events.append(batches.event("edge-1", "porch", "person", BASE + timedelta(minutes=30 * 10)))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=events))
    assert r.status_code == 200 and r.json()["eventsAccepted"] == 61
    expected = sorted(((e.start.ToDatetime(tzinfo=UTC), e.event_id, e.camera, e.label) for e in events), reverse=True)
    return member, expected


def _all_pages(client, member, params, limit):
    ids, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/events", params=query, headers=member.auth).json()
        ids += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


def test_filters_and_pagination_exact_rows(client, app) -> None:
    member, expected = _load(client, app)
    since, until = BASE + timedelta(hours=5), BASE + timedelta(hours=20)
    cases = [
        ({}, lambda e: True),
        ({"camera": "porch"}, lambda e: e[2] == "porch"),
        ({"label": "cat"}, lambda e: e[3] == "cat"),
        ({"camera": "yard", "label": "car"}, lambda e: e[2] == "yard" and e[3] == "car"),
        ({"since": since.isoformat(), "until": until.isoformat()}, lambda e: since <= e[0] < until),
        ({"camera": "porch", "since": since.isoformat()}, lambda e: e[2] == "porch" and e[0] >= since),
        ({"label": "dog"}, lambda e: False),
    ]
    for params, keep in cases:
        want = [e[1] for e in expected if keep(e)]
        for limit in (7, 200):
            got, pages = _all_pages(client, member, params, limit)
            assert got == want, (params, limit)
            assert pages == max(1, -(-len(want) // limit))


def test_counts_per_hour_and_day(client, app) -> None:
    member, expected = _load(client, app)
    since, until = BASE, BASE + timedelta(hours=31)
    hours = client.get("/api/v1/events/counts", params={"bucket": "hour", "since": since.isoformat(),
                                                       "until": until.isoformat()}, headers=member.auth).json()
    want: dict[datetime, int] = {}
    for start, *_ in expected:
        key = start.replace(minute=0, second=0)
        want[key] = want.get(key, 0) + 1
    assert {datetime.fromisoformat(h["bucket"]): h["count"] for h in hours} == want
    days = client.get("/api/v1/events/counts", params={"bucket": "day", "label": "person", "since": since.isoformat(),
                                                      "until": until.isoformat()}, headers=member.auth).json()
    want_days: dict[datetime, int] = {}
    for start, _, _, label in expected:
        if label == "person":
            key = start.replace(hour=0, minute=0, second=0)
            want_days[key] = want_days.get(key, 0) + 1
    assert {datetime.fromisoformat(d["bucket"]): d["count"] for d in days} == want_days
    bad = client.get("/api/v1/events", params={"since": "2024-01-01T00:00:00"}, headers=member.auth)
    assert bad.status_code == 422 and bad.json()["error"]["details"] == [
        {"field": "query.since", "problem": "needs a time zone, e.g. 2024-01-01T00:00:00Z"}]
    assert client.get("/api/v1/events", params={"cursor": "garbage!"}, headers=member.auth).status_code == 422


def test_counts_grouped_by_label_in_one_request(client, app) -> None:
    member, expected = _load(client, app)
    since, until = BASE, BASE + timedelta(hours=31)
    for bucket, trunc in (("hour", {"minute": 0, "second": 0}), ("day", {"hour": 0, "minute": 0, "second": 0})):
        rows = client.get("/api/v1/events/counts", params={"bucket": bucket, "group_by": "label", "since": since.isoformat(),
                                                          "until": until.isoformat()}, headers=member.auth).json()
        want: dict[tuple[datetime, str], int] = {}
        for start, _, _, label in expected:
            key = (start.replace(**trunc), label)
            want[key] = want.get(key, 0) + 1
        assert {(datetime.fromisoformat(r["bucket"]), r["label"]): r["count"] for r in rows} == want
        assert [(r["bucket"], r["label"]) for r in rows] == sorted((r["bucket"], r["label"]) for r in rows)
    # Filters still apply, and the ungrouped answer keeps its shape (no label key).
    cars = client.get("/api/v1/events/counts", params={"group_by": "label", "camera": "porch", "since": since.isoformat(),
                                                      "until": until.isoformat()}, headers=member.auth).json()
    assert sum(r["count"] for r in cars) == sum(1 for e in expected if e[2] == "porch")
    assert {r["label"] for r in cars} <= {"person", "car", "cat"}
    plain = client.get("/api/v1/events/counts", params={"since": since.isoformat(), "until": until.isoformat()},
                       headers=member.auth).json()
    assert plain and all(set(r) == {"bucket", "count"} for r in plain)
    bad = client.get("/api/v1/events/counts", params={"group_by": "camera"}, headers=member.auth)
    assert bad.status_code == 422


def test_retention_cleanup_removes_old_events(client, app) -> None:
    member, expected = _load(client, app)
    cloud = app.state.cloud
    with session_scope(cloud.sessions) as session:
        old = session.get(Event, (member.tenant_id, expected[-1][1]))
        assert old is not None
        old.start_at = datetime.now(UTC) - timedelta(days=30)
    with session_scope(cloud.sessions) as session:
        deleted = cleanup(session)
    assert deleted["events"] == 1
    ids = [e["id"] for e in client.get("/api/v1/events", params={"limit": 200}, headers=member.auth).json()["items"]]
    assert expected[-1][1] not in ids and len(ids) == 60


def test_zones_are_shown_filtered_and_only_ever_added(client, app) -> None:
    """Zone names arrive with events, filter pages and counts exactly, and a later version only adds."""
    relay = add_relay(app, "relay-a")
    member = signup(client, "owner@a.example.org")
    start = BASE + timedelta(hours=2)
    gate = batches.event("edge-1", "porch", "person", start, zones=("front-gate",), seconds=None)
    both = batches.event("edge-1", "porch", "person", start + timedelta(minutes=1), zones=("front-gate", "porch-step"))
    # "porch_step" would match "porch-step" if "_" were a LIKE wildcard in the filter.
    step = batches.event("edge-1", "yard", "cat", start + timedelta(minutes=2), zones=("porch-step",))
    none = batches.event("edge-1", "yard", "car", start + timedelta(minutes=3))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[gate, both, step, none]))
    assert r.status_code == 200 and r.json()["eventsAccepted"] == 4, r.text

    def ids(**params: str) -> list[str]:
        r = client.get("/api/v1/events", params=params, headers=member.auth)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    items = {e["id"]: e["zones"] for e in client.get("/api/v1/events", headers=member.auth).json()["items"]}
    assert items == {gate.event_id: ["front-gate"], both.event_id: ["front-gate", "porch-step"],
                     step.event_id: ["porch-step"], none.event_id: []}
    assert ids(zone="front-gate") == [both.event_id, gate.event_id]
    assert ids(zone="porch-step", label="cat") == [step.event_id]
    assert ids(zone="porch_step") == [] and ids(zone="gate") == []
    counts = client.get("/api/v1/events/counts", params={"bucket": "day", "zone": "porch-step",
                                                        "since": BASE.isoformat()}, headers=member.auth).json()
    assert sum(c["count"] for c in counts) == 2
    assert client.get("/api/v1/events", params={"zone": '"x"'}, headers=member.auth).status_code == 422

    # The open event enters another zone (a version adding nothing else): the row gains it; the older
    # version arriving late does not take it away.
    later = batches.event("edge-1", "porch", "person", start, event_id=gate.event_id, seconds=None,
                          zones=("front-gate", "driveway"))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[later]))
    assert r.status_code == 200 and r.json()["eventsDuplicate"] == 1, r.text
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[gate]))
    assert r.status_code == 200, r.text
    assert ids(zone="driveway") == [gate.event_id]
    shown = client.get(f"/api/v1/events/{gate.event_id}", headers=member.auth).json()
    assert shown["zones"] == ["front-gate", "driveway"]

    # Names only, of the configuration's form: anything else refuses the batch.
    for zones in (("Front Gate",), ("a",) * 2, tuple(f"z{i}" for i in range(17)), ('"x"',)):
        bad = batches.event("edge-1", "porch", "person", start, zones=zones)
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[bad]))
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "events[0].zones", (zones, r.text)
