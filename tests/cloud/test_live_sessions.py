"""Live tokens and the live sessions audit: a member gets a ``live`` token for one camera (the relay
verifies it offline), each one opens a session the tenant admin sees (who, which camera, when; no media),
the viewer ends it, and the plan bounds the sessions open at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.services import plan
from cloud.tables import LiveSession
from guardian.contracts import auth
from tests.cloud.test_device_tokens import _ask as ask
from tests.cloud.test_device_tokens import _keys as public_keys
from tests.cloud.test_device_tokens import _world as device_world


def test_a_live_token_opens_a_session_the_admin_sees(client, app) -> None:
    _, admin, viewer = device_world(client, app)

    r = ask(client, viewer, {"scopes": ["live"], "camera": "porch", "stream": "main"})

    assert r.status_code == 201, r.text
    issued = r.json()
    grant = auth.verify_device_token(issued["token"], public_keys(client), tenant_id=admin.tenant_id,
                                     device_id="edge-a", scope="live", camera="porch")
    assert grant.stream == "main" and grant.expires_at - grant.issued_at <= auth.DEVICE_TOKEN_MAX_TTL
    session_id = issued["live_session_id"]

    assert client.get("/api/v1/live-sessions", headers=viewer).status_code == 403  # the audit is the admin's
    [listed] = client.get("/api/v1/live-sessions", headers=admin.auth).json()
    assert (listed["id"], listed["user_email"], listed["device_id"], listed["camera"], listed["stream"]) == (
        session_id, "v@a.example.org", "edge-a", "porch", "main")
    assert listed["ended_at"] is None
    assert datetime.fromisoformat(listed["expires_at"]) == datetime.fromisoformat(issued["expires_at"])

    # Someone else's session: only an admin may end it.
    mine = ask(client, admin.auth, {"scopes": ["live"], "camera": "garage"}).json()["live_session_id"]
    assert client.post(f"/api/v1/live-sessions/{mine}/end", headers=viewer).status_code == 404
    assert client.post(f"/api/v1/live-sessions/{session_id}/end", headers=viewer).status_code == 204
    assert client.post(f"/api/v1/live-sessions/{session_id}/end", headers=viewer).status_code == 204  # again: harmless
    listed = {s["id"]: s for s in client.get("/api/v1/live-sessions", headers=admin.auth).json()}
    assert listed[session_id]["ended_at"] is not None and listed[mine]["ended_at"] is None
    assert list(listed) == [mine, session_id]  # newest first


def test_the_plan_bounds_concurrent_viewers(client, app, monkeypatch: pytest.MonkeyPatch) -> None:
    _, admin, viewer = device_world(client, app)
    monkeypatch.setitem(plan.PLANS, "free", plan.Plan(name="free", max_cameras=4, max_archive_bytes=1,
                                                      retention_days=7, max_live_viewers=2))
    first = ask(client, viewer, {"scopes": ["live"], "camera": "porch"}).json()["live_session_id"]
    assert ask(client, admin.auth, {"scopes": ["live"], "camera": "garage"}).status_code == 201

    full = ask(client, admin.auth, {"scopes": ["live"], "camera": "porch"})
    assert (full.status_code, full.json()["error"]["code"]) == (409, "live_viewer_limit")
    assert ask(client, viewer, {"scopes": ["picture"], "camera": "porch"}).status_code == 201  # pictures are not live

    assert client.post(f"/api/v1/live-sessions/{first}/end", headers=viewer).status_code == 204
    again = ask(client, admin.auth, {"scopes": ["live"], "camera": "porch"})
    assert again.status_code == 201, again.text
    # A session whose token expired no longer counts, ended or not.
    with app.state.cloud.sessions() as session:
        row = session.get(LiveSession, again.json()["live_session_id"])
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert ask(client, admin.auth, {"scopes": ["live"], "camera": "porch"}).status_code == 201
    listed = {s["id"]: s for s in client.get("/api/v1/live-sessions", headers=admin.auth).json()}
    assert listed[again.json()["live_session_id"]]["ended_at"] is not None  # ended at its expiry


def test_live_token_refusals(client, app) -> None:
    _, admin, _ = device_world(client, app)
    for body in ({"scopes": ["live"]}, {"scopes": ["live", "picture"], "camera": "porch"},
                 {"scopes": ["picture"], "camera": "porch", "stream": "main"},
                 {"scopes": ["live"], "camera": "porch", "stream": "best"}):
        assert ask(client, admin.auth, body).status_code == 422, body
    r = ask(client, admin.auth, {"scopes": ["live"], "camera": "attic"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "camera_not_found")
    assert client.get("/api/v1/live-sessions", headers=admin.auth).json() == []  # refused: nothing recorded


def test_a_viewer_renews_its_live_token_until_its_access_ends(client, app) -> None:
    """A long view renews its token: the same session, a later expiry, a token for the same camera and
    stream (not another place in the plan). An ended session, someone else's, a revoked device or a removed
    member: no renewal, so the edge ends the stream when the last token expires."""
    _, admin, viewer = device_world(client, app)
    issued = ask(client, viewer, {"scopes": ["live"], "camera": "porch", "stream": "main"}).json()
    session_id = issued["live_session_id"]
    with app.state.cloud.sessions() as session:  # as if the first token had been minted a while ago
        row = session.get(LiveSession, session_id)
        row.expires_at = datetime.now(UTC) + timedelta(seconds=20)
        session.commit()

    r = client.post(f"/api/v1/live-sessions/{session_id}/renew", headers=viewer)

    assert r.status_code == 201, r.text
    renewed = r.json()
    grant = auth.verify_device_token(renewed["token"], public_keys(client), tenant_id=admin.tenant_id,
                                     device_id="edge-a", scope="live", camera="porch")
    assert grant.stream == "main" and renewed["live_session_id"] == session_id
    [listed] = client.get("/api/v1/live-sessions", headers=admin.auth).json()
    assert listed["ended_at"] is None
    assert datetime.fromisoformat(listed["expires_at"]) == datetime.fromisoformat(renewed["expires_at"])
    assert datetime.fromisoformat(listed["expires_at"]) > datetime.now(UTC) + timedelta(seconds=60)

    # Not someone else's (not even the admin's), nor an ended one.
    assert client.post(f"/api/v1/live-sessions/{session_id}/renew", headers=admin.auth).status_code == 404
    mine = ask(client, admin.auth, {"scopes": ["live"], "camera": "garage"}).json()["live_session_id"]
    assert client.post(f"/api/v1/live-sessions/{mine}/end", headers=admin.auth).status_code == 204
    ended = client.post(f"/api/v1/live-sessions/{mine}/renew", headers=admin.auth)
    assert (ended.status_code, ended.json()["error"]["code"]) == (409, "live_session_ended")

    # A removed member cannot renew (its login has ended); a revoked device's sessions are not renewed.
    members = {m["email"]: m["id"] for m in client.get("/api/v1/tenant/members", headers=admin.auth).json()}
    other = ask(client, admin.auth, {"scopes": ["live"], "camera": "porch"}).json()["live_session_id"]
    assert client.delete(f"/api/v1/tenant/members/{members['v@a.example.org']}", headers=admin.auth).status_code == 204
    assert client.post(f"/api/v1/live-sessions/{session_id}/renew", headers=viewer).status_code == 401
    assert client.delete("/api/v1/devices/edge-a", headers=admin.auth).status_code == 204
    revoked = client.post(f"/api/v1/live-sessions/{other}/renew", headers=admin.auth)
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (404, "not_found")
