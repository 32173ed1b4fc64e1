"""Devices: revocation by a tenant admin (and how the relay learns it), the relay's enrolment endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.cloud import batches
from tests.cloud.conftest import add_operator, add_relay, login, signup

NOW = datetime.now(UTC).replace(microsecond=0)


def test_admin_revokes_a_device_and_its_relay_is_told(client, app) -> None:
    relay_a, relay_b = add_relay(app, "relay-a"), add_relay(app, "relay-b")
    a, b = signup(client, "admin@a.example.org"), signup(client, "admin@b.example.org")
    client.post("/api/v1/tenant/members", headers=a.auth,
                json={"email": "viewer@a.example.org", "password": "viewer password", "role": "viewer"})
    viewer = {"Authorization": f"Bearer {login(client, 'viewer@a.example.org', 'viewer password')}"}
    old = batches.event("edge-1", "porch", "person", NOW - timedelta(minutes=10))
    r = relay_a.post(client, "/api/v1/ingest", batches.batch(
        relay_a.id, events=[old, batches.event("edge-2", "yard", "car", NOW - timedelta(minutes=9))],
        healths=[batches.health("edge-1", {"porch": "streaming"}), batches.health("edge-2", {"yard": "streaming"})]))
    assert r.status_code == 200, r.text
    token = client.post("/api/v1/bootstrap-tokens", json={"label": "spare"}, headers=a.auth).json()
    assert client.delete(f"/api/v1/bootstrap-tokens/{token['id']}", headers=a.auth).status_code == 204

    # Only the tenant's admins: a viewer is refused, another tenant sees no such device.
    refused = client.delete("/api/v1/devices/edge-1", headers=viewer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.delete("/api/v1/devices/edge-1", headers=b.auth).status_code == 404
    assert client.delete("/api/v1/devices/edge-1", headers=a.auth).status_code == 204
    assert client.delete("/api/v1/devices/edge-1", headers=a.auth).status_code == 204  # harmless to repeat
    assert client.delete("/api/v1/devices/edge-404", headers=a.auth).status_code == 404

    # Gone for the tenant: list, detail, rename, its cameras; its past events stay.
    assert [d["id"] for d in client.get("/api/v1/devices", headers=a.auth).json()] == ["edge-2"]
    assert client.get("/api/v1/devices/edge-1", headers=a.auth).status_code == 404
    assert client.patch("/api/v1/devices/edge-1", json={"name": "x"}, headers=a.auth).status_code == 404
    assert [c["device_id"] for c in client.get("/api/v1/cameras", headers=a.auth).json()] == ["edge-2"]
    assert client.get("/api/v1/tenant/plan", headers=a.auth).json()["cameras_used"] == 1
    assert client.get(f"/api/v1/events/{old.event_id}", headers=a.auth).status_code == 200

    # The relay's revocation feed names the device (and keeps the tokens' shape); the other relay's does not.
    feed = relay_a.get(client, "/api/v1/relay/revocations").json()
    devices = [r for r in feed if r["kind"] == "device"]
    assert [r["device_id"] for r in devices] == ["edge-1"]
    assert set(devices[0]) == {"kind", "device_id", "revoked_at"}
    assert datetime.fromisoformat(devices[0]["revoked_at"]) >= NOW - timedelta(seconds=5)
    tokens_ = [r for r in feed if r["kind"] == "bootstrap_token"]
    assert [r["nonce"] for r in tokens_] == [token["id"]] and set(tokens_[0]) == {"kind", "nonce", "expires_at"}
    assert relay_b.get(client, "/api/v1/relay/revocations").json() == []

    # Until the relay acts on it, nothing more from the device is stored; its neighbour is unaffected.
    late = batches.event("edge-1", "porch", "person", NOW)
    r = relay_a.post(client, "/api/v1/ingest", batches.batch(
        relay_a.id, events=[late, batches.event("edge-2", "yard", "car", NOW)],
        healths=[batches.health("edge-1", {"porch": "streaming", "garden": "streaming"})],
        archives=[batches.archive("edge-1", late.event_id, "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq", 10)]))
    assert r.status_code == 200, r.text
    assert r.json()["eventsAccepted"] == 1
    assert r.headers["X-Guardian-Rejected-Events"] == "1" and r.headers["X-Guardian-Rejected-Archives"] == "1"
    assert client.get(f"/api/v1/events/{late.event_id}", headers=a.auth).status_code == 404
    assert [d["id"] for d in client.get("/api/v1/devices", headers=a.auth).json()] == ["edge-2"]
    assert [c["device_id"] for c in client.get("/api/v1/cameras", headers=a.auth).json()] == ["edge-2"]


def test_tenant_shows_where_devices_enrol(client, app) -> None:
    relay = add_relay(app, "relay-a")
    add_operator(app)
    member = signup(client, "admin@a.example.org")
    tenant = client.get("/api/v1/tenant", headers=member.auth).json()
    # Not registered separately: the host and port of the relay URL, the port spelled out.
    assert tenant["relay_url"] == "https://relay-a.relays.example.org"
    assert tenant["relay_enrolment_endpoint"] == "relay-a.relays.example.org:443"

    operator = {"Authorization": f"Bearer {login(client, 'ops@guardian.example.org', 'operator-password-1')}"}
    bad = client.patch(f"/api/v1/relays/{relay.id}", json={"enrolment_endpoint": "https://x.example.org"}, headers=operator)
    assert bad.status_code == 422
    r = client.patch(f"/api/v1/relays/{relay.id}", json={"enrolment_endpoint": "enrol.relay-a.example.org:8443"},
                     headers=operator)
    assert r.status_code == 200 and r.json()["enrolment_endpoint"] == "enrol.relay-a.example.org:8443"
    tenant = client.get("/api/v1/tenant", headers=member.auth).json()
    assert tenant["relay_enrolment_endpoint"] == "enrol.relay-a.example.org:8443"
    assert tenant["relay_url"] == "https://relay-a.relays.example.org"
    # An empty value goes back to the relay URL's; a PATCH without the key leaves it alone.
    client.patch(f"/api/v1/relays/{relay.id}", json={"enabled": True}, headers=operator)
    assert client.get("/api/v1/tenant", headers=member.auth).json()["relay_enrolment_endpoint"] == "enrol.relay-a.example.org:8443"
    client.patch(f"/api/v1/relays/{relay.id}", json={"enrolment_endpoint": ""}, headers=operator)
    assert client.get("/api/v1/tenant", headers=member.auth).json()["relay_enrolment_endpoint"] == "relay-a.relays.example.org:443"
