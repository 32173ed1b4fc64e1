"""Reviewing: each member's own reviewed state, unread counts per camera, mark all with the timeline's
filters, the reviewed/severity filters, and no reach into another tenant (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.core.db import session_scope
from cloud.tables import EventReview
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import Member, RelayHandle, add_relay, login, signup

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _household(client, app) -> tuple[Member, Member, list[str], RelayHandle]:
    """An owner, a second household member, and six events: porch person ×3 (one in zone gate), yard car ×3."""
    relay = add_relay(app, "relay-a")
    owner = signup(client, "owner@a.example.org")
    r = client.post("/api/v1/tenant/members", headers=owner.auth,
                    json={"email": "partner@a.example.org", "password": "partner password 1", "role": "viewer"})
    assert r.status_code == 201, r.text
    token = login(client, "partner@a.example.org", "partner password 1")
    partner = Member("partner@a.example.org", "partner password 1", token, owner.tenant_id, r.json()["id"])
    events = [batches.event("edge-1", "porch", "person", BASE + timedelta(minutes=i), zones=("gate",) if i == 0 else ())
              for i in range(3)]
    events += [batches.event("edge-1", "yard", "car", BASE + timedelta(minutes=10 + i)) for i in range(3)]
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=events))
    assert r.json()["eventsAccepted"] == 6
    return owner, partner, [e.event_id for e in events], relay


def _events(client, member) -> list[dict[str, Any]]:
    return client.get("/api/v1/events", headers=member.auth).json()["items"]


def _unread(client, member, **params) -> dict[str, object]:
    r = client.get("/api/v1/reviews/unread", params=params, headers=member.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    return {"total": body["total"], **{c["camera"]: c["count"] for c in body["cameras"]}}


def _listed(client, member, **params) -> dict[str, bool]:
    r = client.get("/api/v1/events", params=params, headers=member.auth)
    assert r.status_code == 200, r.text
    return {e["id"]: e["reviewed"] for e in r.json()["items"]}


def test_each_member_has_their_own_reviewed_state(client, app) -> None:
    owner, partner, ids, _ = _household(client, app)
    assert _unread(client, owner) == {"total": 6, "porch": 3, "yard": 3}

    assert client.put(f"/api/v1/reviews/events/{ids[0]}", headers=owner.auth).status_code == 204
    assert client.put(f"/api/v1/reviews/events/{ids[0]}", headers=owner.auth).status_code == 204  # again: no-op
    assert _unread(client, owner) == {"total": 5, "porch": 2, "yard": 3}
    assert _unread(client, partner) == {"total": 6, "porch": 3, "yard": 3}
    assert client.get(f"/api/v1/events/{ids[0]}", headers=owner.auth).json()["reviewed"] is True
    assert client.get(f"/api/v1/events/{ids[0]}", headers=partner.auth).json()["reviewed"] is False
    assert _listed(client, owner)[ids[0]] is True and _listed(client, partner)[ids[0]] is False
    assert set(_listed(client, owner, reviewed="false")) == set(ids[1:])
    assert set(_listed(client, owner, reviewed="true")) == {ids[0]}

    assert client.delete(f"/api/v1/reviews/events/{ids[0]}", headers=owner.auth).status_code == 204
    assert _unread(client, owner)["total"] == 6


def test_mark_all_follows_the_filters(client, app) -> None:
    owner, partner, _ids, _ = _household(client, app)
    r = client.post("/api/v1/reviews/mark-all", json={"camera": "porch"}, headers=owner.auth)
    assert r.json() == {"marked": 3}
    assert _unread(client, owner) == {"total": 3, "yard": 3}
    assert client.post("/api/v1/reviews/mark-all", json={"camera": "porch"}, headers=owner.auth).json() == {"marked": 0}
    # until: events that started later (arrived after the list was loaded) stay unreviewed.
    until = (BASE + timedelta(minutes=11)).isoformat()
    assert client.post("/api/v1/reviews/mark-all", json={"until": until}, headers=owner.auth).json() == {"marked": 1}
    assert _unread(client, owner) == {"total": 2, "yard": 2}
    # zone and label filters; the partner's state is untouched by all of the above.
    assert client.post("/api/v1/reviews/mark-all", json={"zone": "gate"}, headers=partner.auth).json() == {"marked": 1}
    assert _unread(client, partner, label="person") == {"total": 2, "porch": 2}
    assert _unread(client, partner) == {"total": 5, "porch": 2, "yard": 3}


def test_severity_is_stored_only_rises_and_is_filtered(client, app) -> None:
    owner, _, ids, relay = _household(client, app)
    first = next(e for e in _events(client, owner) if e["id"] == ids[0])
    assert first["severity"] == "detection"
    # A later version of the event is an alert (its person stepped into an alert zone): it rises; an older
    # version arriving after it (a retry) does not lower it again.
    start = datetime.fromisoformat(first["start_at"])
    for severity in (ingest_pb2.SEVERITY_ALERT, ingest_pb2.SEVERITY_DETECTION):
        again = batches.event("edge-1", "porch", "person", start, event_id=ids[0], zones=("gate",))
        again.severity = severity
        assert relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[again])).status_code == 200
    assert {e["id"]: e["severity"] for e in _events(client, owner)}[ids[0]] == "alert"
    assert set(_listed(client, owner, severity="alert")) == {ids[0]}
    assert set(_listed(client, owner, severity="detection")) == set(ids[1:])
    assert _unread(client, owner, severity="alert") == {"total": 1, "porch": 1}
    assert client.post("/api/v1/reviews/mark-all", json={"severity": "detection"},
                       headers=owner.auth).json() == {"marked": 5}
    assert _unread(client, owner) == {"total": 1, "porch": 1}


def test_another_tenant_cannot_mark_or_count(client, app) -> None:
    owner, _, ids, _relay = _household(client, app)
    intruder = signup(client, "intruder@b.example.org", tenant="B")
    assert client.put(f"/api/v1/reviews/events/{ids[0]}", headers=intruder.auth).status_code == 404
    assert client.post("/api/v1/reviews/mark-all", json={}, headers=intruder.auth).json() == {"marked": 0}
    assert _unread(client, intruder) == {"total": 0}
    with session_scope(app.state.cloud.sessions) as session:
        assert session.query(EventReview).count() == 0
    assert _unread(client, owner)["total"] == 6
