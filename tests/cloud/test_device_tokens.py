"""Device access tokens (``POST /api/v1/devices/{id}/access-token``): who may ask for what, for which
camera, and that the relay can verify what the cloud mints; and camera health from telemetry on the
Cameras list (fps, bitrate, last error)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.tables import Relay
from guardian.contracts import auth
from tests.cloud import batches
from tests.cloud.conftest import add_relay, login, signup


def _keys(client):
    return auth.load_public_keys(k["public_key"] for k in client.get("/api/v1/keys").json()["keys"])


def _world(client, app):
    relay = add_relay(app, "relay-a")
    admin = signup(client, "a@a.example.org")
    health = batches.health("edge-a", {"porch": "streaming"})
    health.cameras[0].fps, health.cameras[0].bitrate_bps = 14.5, 1_250_000.0
    health.cameras[0].reason = "reconnected after a stall"
    assert relay.post(client, "/api/v1/ingest", batches.batch(relay.id, healths=[health])).status_code == 200
    r = client.put("/api/v1/devices/edge-a/config", headers=admin.auth, json={"base_version": 0, "cameras": [
        {"name": "porch", "record": {"url": "rtsp://porch.example.org/main"}},
        {"name": "garage", "record": {"url": "rtsp://garage.example.org/main"}}]})
    assert r.status_code == 201, r.text
    client.post("/api/v1/tenant/members", headers=admin.auth,
                json={"email": "v@a.example.org", "password": "viewer password", "role": "viewer"})
    viewer = {"Authorization": f"Bearer {login(client, 'v@a.example.org', 'viewer password')}"}
    client.cookies.clear()
    return relay, admin, viewer


def _ask(client, headers, body, device="edge-a"):
    return client.post(f"/api/v1/devices/{device}/access-token", json=body, headers=headers)


def test_a_member_gets_a_picture_token_the_relay_verifies(client, app) -> None:
    relay, admin, viewer = _world(client, app)

    r = _ask(client, viewer, {"scopes": ["picture"], "camera": "porch"})

    assert r.status_code == 201, r.text
    issued = r.json()
    assert (issued["relay_url"], issued["scopes"], issued["camera"]) == (relay.endpoint, ["picture"], "porch")
    assert timedelta(0) < datetime.fromisoformat(issued["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=5)
    grant = auth.verify_device_token(issued["token"], _keys(client), tenant_id=admin.tenant_id, device_id="edge-a",
                                     scope="picture", camera="porch")
    assert grant.relay_url == relay.endpoint and grant.expires_at - grant.issued_at <= auth.DEVICE_TOKEN_MAX_TTL
    with pytest.raises(auth.TokenInvalid):  # not a clip token
        auth.verify_clip_token(issued["token"], _keys(client))
    # A camera only in the desired config (not reported yet) has a picture to ask for too.
    assert _ask(client, viewer, {"scopes": ["picture"], "camera": "garage"}).status_code == 201


def test_discover_and_probe_need_an_admin(client, app) -> None:
    _, admin, viewer = _world(client, app)
    for scopes in (["discover"], ["probe"], ["picture", "probe"]):
        r = _ask(client, viewer, {"scopes": scopes, "camera": "porch"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), scopes
    r = _ask(client, admin.auth, {"scopes": ["probe", "discover"]})
    assert r.status_code == 201 and r.json()["scopes"] == ["discover", "probe"] and r.json()["camera"] is None
    assert auth.verify_device_token(r.json()["token"], _keys(client), scope="discover").camera is None


def test_refusals(client, app) -> None:
    _, admin, _ = _world(client, app)
    assert _ask(client, admin.auth, {"scopes": ["picture"]}).status_code == 422
    assert _ask(client, admin.auth, {"scopes": ["clip"], "camera": "porch"}).status_code == 422
    assert _ask(client, admin.auth, {"scopes": []}).status_code == 422
    r = _ask(client, admin.auth, {"scopes": ["picture"], "camera": "attic"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "camera_not_found")
    assert _ask(client, admin.auth, {"scopes": ["discover"]}, device="edge-nobody").status_code == 404

    other = signup(client, "b@b.example.org", take_relay=False)
    assert _ask(client, other.auth, {"scopes": ["picture"], "camera": "porch"}).status_code == 404

    # The tenant loses its relay: nowhere to send the browser.
    with app.state.cloud.sessions() as session:
        for relay in session.query(Relay).filter(Relay.tenant_id == admin.tenant_id):
            relay.tenant_id = None
        session.commit()
    r = _ask(client, admin.auth, {"scopes": ["picture"], "camera": "porch"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "no_relay")

    assert client.delete("/api/v1/devices/edge-a", headers=admin.auth).status_code == 204
    assert _ask(client, admin.auth, {"scopes": ["picture"], "camera": "porch"}).status_code == 404  # revoked


def test_camera_health_from_telemetry(client, app) -> None:
    _, admin, _ = _world(client, app)
    [camera] = client.get("/api/v1/cameras", headers=admin.auth).json()
    assert (camera["state"], camera["fps"], camera["bitrate_bps"], camera["reason"]) == (
        "streaming", 14.5, 1_250_000.0, "reconnected after a stall")
    assert camera["last_frame_at"] is not None
