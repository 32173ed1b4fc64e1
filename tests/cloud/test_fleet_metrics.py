"""/metrics carries the fleet gauges (devices by status and version, each device that is not healthy,
cameras by state and down per device, relays), read per scrape in a fixed number of queries, with ids
only: no tenant, camera or relay names, no e-mails. SQLite and PostgreSQL."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from tests.cloud import batches
from tests.cloud.conftest import add_relay, signup


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_fleet_gauges_follow_the_relays_reports(client, app) -> None:
    relay = add_relay(app, "relay-fleet")
    idle = add_relay(app, "relay-idle")
    tenant = signup(client, "owner@fleet.example.org", tenant="Smith family home")
    report = batches.batch(relay.id, healths=[
        batches.health("edge-front", {"porch": "streaming", "garage": "failed"}),
        batches.health("edge-back", {"garden": "streaming"}, status=3),  # offline
    ])
    assert relay.post(client, "/api/v1/ingest", report).status_code == 200
    assert client.delete("/api/v1/devices/edge-back", headers=tenant.auth).status_code == 204  # revoked: not counted

    # Every scrape reads the fleet in the same few queries, whatever its size.
    statements: list[str] = []
    engine = app.state.cloud.service_engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, …)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        text = client.get("/metrics").text
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    got = samples(text)

    t = tenant.tenant_id
    front = {("tenant", t), ("relay", relay.id), ("device", "edge-front")}
    assert got[("guardian_cloud_fleet_devices",
                frozenset({("tenant", t), ("status", "healthy"), ("version", "0.1.0")}))] == 1
    assert not [k for k in got if k[0] == "guardian_cloud_fleet_device_status"], "healthy devices: no series"
    assert got[("guardian_cloud_fleet_cameras", frozenset({("tenant", t), ("state", "failed")}))] == 1
    assert got[("guardian_cloud_fleet_cameras", frozenset({("tenant", t), ("state", "streaming")}))] == 1
    assert got[("guardian_cloud_fleet_cameras_down", frozenset({("tenant", t), ("device", "edge-front")}))] == 1
    assert not [k for k in got if ("device", "edge-back") in k[1]], "a revoked device is no longer in the fleet"
    assert sum(v for k, v in got.items() if k[0] == "guardian_cloud_fleet_devices") == 1
    assert got[("guardian_cloud_fleet_relay_enabled", frozenset({("relay", idle.id)}))] == 1
    assert ("guardian_cloud_fleet_relay_last_seen_timestamp_seconds", frozenset({("relay", relay.id)})) in got
    assert ("guardian_cloud_fleet_relay_last_seen_timestamp_seconds", frozenset({("relay", idle.id)})) not in got
    fleet_reads = [s for s in statements if "devices" in s or "cameras" in s or "relays" in s]
    assert len(fleet_reads) == 5, fleet_reads
    # Ids only: the tenant's, the cameras', the relays' names and the owner's e-mail stay out.
    for private in ("Smith family home", "porch", "garage", "relay-fleet", "owner@fleet.example.org"):
        assert private not in text

    # The next scrape sees the next report: the device went offline.
    assert relay.post(client, "/api/v1/ingest", batches.batch(
        relay.id, healths=[batches.health("edge-front", {"porch": "streaming", "garage": "streaming"}, status=3)],
    )).status_code == 200
    got = samples(client.get("/metrics").text)
    assert got[("guardian_cloud_fleet_device_status", frozenset({*front, ("status", "offline")}))] == 1
    assert ("guardian_cloud_fleet_device_last_seen_timestamp_seconds", frozenset(front)) in got
    assert got[("guardian_cloud_fleet_devices",
                frozenset({("tenant", t), ("status", "offline"), ("version", "0.1.0")}))] == 1
    assert ("guardian_cloud_fleet_cameras_down", frozenset({("tenant", t), ("device", "edge-front")})) not in got
