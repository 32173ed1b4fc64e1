"""Zone names cross edge → relay → cloud: an event the edge stores with the zones its object stood in
reaches the real cloud with their names (and nothing of their geometry), the tenant filters by them, and
a zone entered later reaches the cloud too."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guardian.contracts import auth
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.netlab import ENROL_PORT, RELAY_ID, RELAY_PUBLIC, TENANT, Lab, wait_for

pytestmark = pytest.mark.slow


def _save(lab: Lab, event_id: str, start: datetime, zones: str, *, ended: bool) -> None:
    """Through the edge's own store: the events table and the outbox, in one transaction."""
    from agents.edge.db.tables import EventRow
    from agents.edge.events.store import EventStore

    engine, sessions = lab.edge_sessions()
    try:
        EventStore(sessions).save(EventRow(
            id=event_id, camera="front", label="person", model="nanodet@test", start_at=start,
            end_at=start + timedelta(seconds=8) if ended else None, ended=ended, max_score=0.8, mean_score=0.7,
            hits=12, snapshot_ref="", thumbnail_ref="", clip_ref="", clip_duration_s=0.0,
            track_json="[[0, 0.1, 0.2, 0.4, 0.9, 0.8]]", zones_json=zones,
        ))
    finally:
        engine.dispose()


def test_event_zones_reach_the_cloud_as_names(make_lab) -> None:
    lab: Lab = make_lab()
    (lab.dir / "cloud").mkdir()
    values = cloud_settings(lab.dir / "cloud" / "cloud.db", lab.token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID,
            relay_public_key=auth.public_key_to_text(lab.relay_signing_key),
            relay_url=f"https://{RELAY_PUBLIC}:{ENROL_PORT}")
    admin = TenantAdmin(TestClient(app_for(values), base_url="https://testserver"))  # same database
    lab.start_real_cloud(values)
    lab.start_relay()
    enrolled = lab.enrol(admin.issue_token("porch")["token"])
    assert enrolled.returncode == 0, enrolled.stderr
    lab.start_edge()

    def events(**params: str) -> dict[str, Any]:
        response = admin.client.get("/api/v1/events", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return {e["id"]: e for e in response.json()["items"]}

    start = datetime.now(UTC) - timedelta(minutes=1)
    walking, parked = str(uuid.uuid4()), str(uuid.uuid4())
    _save(lab, walking, start, '["front-gate"]', ended=False)
    _save(lab, parked, start + timedelta(seconds=1), "[]", ended=True)
    wait_for(lambda: len(events()) == 2, 90, "both events in the cloud")
    assert {i: e["zones"] for i, e in events().items()} == {walking: ["front-gate"], parked: []}

    # The open event's object walks on into the driveway: the new version carries both names.
    _save(lab, walking, start, '["front-gate", "driveway"]', ended=True)
    wait_for(lambda: list(events(zone="driveway")) == [walking], 60, "the second zone in the cloud")
    assert events(zone="driveway")[walking]["zones"] == ["front-gate", "driveway"]
    assert list(events(zone="front-gate")) == [walking]

    # The relay kept the event whole (its track); the cloud has names only: no box, no score.
    assert lab.relay_query("SELECT COUNT(*) FROM events WHERE track_json LIKE '%box%'") == [(2,)]
    with sqlite3.connect(lab.dir / "cloud" / "cloud.db") as db:
        stored = db.execute("SELECT zones_json FROM events ORDER BY start_at").fetchall()
    assert stored == [('["front-gate", "driveway"]',), ("[]",)]
