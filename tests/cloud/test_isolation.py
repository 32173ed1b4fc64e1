"""Tenant isolation, as one table over every route of the app.

The route list comes from ``app.routes``: a route missing from ``CASES`` fails the test, so a new
endpoint cannot be added without deciding how it is isolated. For each route, tenant B's credentials
(member token, relay signature) are used against tenant A's ids; the answer must be a refusal
(401/403/404/409) or B's own data, and the body must contain none of A's identifiers or names. The same
request with A's own credentials must succeed, proving that the refusal comes from isolation and not
from a bad id. Every non-public route also refuses a caller without credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from tests.cloud import batches
from tests.cloud.conftest import add_operator, add_relay, login, make_settings, signup
from tests.fakes.push_service import Browser

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Case:
    kind: str  # public | tenant | admin | operator | relay
    body: Any = None
    owner_status: int | tuple[int, ...] = 200
    intruder_status: tuple[int, ...] = (403, 404)
    stream: bool = False
    query: dict[str, str] = field(default_factory=dict)


# A browser's push subscription keys (tests/fakes/push_service.py).
_BROWSER = Browser("https://fcm.googleapis.com/fcm/send/alpha-browser")

CASES: dict[tuple[str, str], Case] = {
    # Public: no tenant data behind them.
    ("GET", "/openapi.json"): Case("public"),
    ("GET", "/healthz"): Case("public"),
    ("GET", "/metrics"): Case("public"),
    ("GET", "/api/v1/keys"): Case("public"),
    ("POST", "/api/v1/auth/signup"): Case("public"),
    ("POST", "/api/v1/auth/login"): Case("public"),
    ("POST", "/api/v1/auth/refresh"): Case("public"),
    ("POST", "/api/v1/auth/logout"): Case("public"),
    ("GET", "/api/v1/auth/providers"): Case("public"),
    ("GET", "/api/v1/auth/oidc/login"): Case("public"),
    ("GET", "/api/v1/auth/oidc/callback"): Case("public"),
    # The signed-in account itself (no ids in the path).
    ("GET", "/api/v1/users/me"): Case("tenant", intruder_status=(200,)),
    ("POST", "/api/v1/users/me/password"): Case(
        "tenant", body={"current_password": "wrong password", "new_password": "a brand new password"},
        owner_status=403, intruder_status=(403,)),
    # Tenant-scoped.
    ("GET", "/api/v1/tenant"): Case("tenant", intruder_status=(200,)),
    ("PATCH", "/api/v1/tenant"): Case("admin", body={"name": "B renamed"}, intruder_status=(200,)),
    ("GET", "/api/v1/tenant/plan"): Case("tenant", intruder_status=(200,)),
    ("GET", "/api/v1/tenant/members"): Case("tenant", intruder_status=(200,)),
    ("POST", "/api/v1/tenant/members"): Case(
        "admin", body=lambda owner: {"email": f"new-member-{'a' if owner else 'b'}@x.example.org",
                                     "password": "new member password", "role": "viewer"},
        owner_status=201, intruder_status=(201,)),
    ("PATCH", "/api/v1/tenant/members/{user_id}"): Case("admin", body={"role": "admin"}),
    ("DELETE", "/api/v1/tenant/members/{user_id}"): Case("admin", owner_status=204),
    ("GET", "/api/v1/devices"): Case("tenant", intruder_status=(200,)),
    ("GET", "/api/v1/devices/{device_id}"): Case("tenant"),
    ("PATCH", "/api/v1/devices/{device_id}"): Case("admin", body={"name": "mine now"}),
    ("DELETE", "/api/v1/devices/{device_id}"): Case("admin", owner_status=204),
    ("GET", "/api/v1/devices/{device_id}/config"): Case("tenant"),
    # Version 2: the owner's PATCH of /api/v1/cameras/{camera_id} (paths run in order) renamed the camera in version 1.
    ("PUT", "/api/v1/devices/{device_id}/config"): Case("admin", body={"base_version": 2, "cameras": []}, owner_status=201),
    ("POST", "/api/v1/devices/{device_id}/access-token"): Case(
        "tenant", body={"scopes": ["picture"], "camera": "alpha-porch"}, owner_status=201),
    ("GET", "/api/v1/live-sessions"): Case("admin", intruder_status=(200,)),
    ("POST", "/api/v1/live-sessions/{live_session_id}/end"): Case("tenant", owner_status=204, intruder_status=(404,)),
    # Runs after .../end (by path): the owner's session has ended by then (409); test_live_sessions renews one.
    ("POST", "/api/v1/live-sessions/{live_session_id}/renew"): Case("tenant", owner_status=409, intruder_status=(404,)),
    ("GET", "/api/v1/bootstrap-tokens"): Case("admin", intruder_status=(200,)),
    ("POST", "/api/v1/bootstrap-tokens"): Case("admin", body={"label": "b"}, owner_status=201, intruder_status=(201,)),
    ("DELETE", "/api/v1/bootstrap-tokens/{token_id}"): Case("admin", owner_status=204),
    # The personalised edge image: no image is configured here, so the owner's 503 (edge_image_unavailable)
    # comes after the token was found as A's; B's 404 before (tests/cloud/test_image_download.py has both).
    ("GET", "/api/v1/bootstrap-tokens/{token_id}/image"): Case("admin", owner_status=503),
    ("GET", "/api/v1/bootstrap-tokens/{token_id}/image/checksum"): Case("admin", owner_status=503),
    ("GET", "/api/v1/bootstrap-tokens/{token_id}/image.xz"): Case("admin", owner_status=503),
    ("GET", "/api/v1/bootstrap-tokens/{token_id}/image.xz/checksum"): Case("admin", owner_status=503),
    ("GET", "/api/v1/cameras"): Case("tenant", intruder_status=(200,)),
    ("GET", "/api/v1/cameras/{camera_id}"): Case("tenant"),
    ("PATCH", "/api/v1/cameras/{camera_id}"): Case("admin", body={"display_name": "mine now"}),
    # Filtered by A's zone: B gets its own (none), never A's event.
    ("GET", "/api/v1/events"): Case("tenant", intruder_status=(200,), query={"zone": "alpha-gate"}),
    ("GET", "/api/v1/events/counts"): Case("tenant", intruder_status=(200,), query={"zone": "alpha-gate"}),
    ("GET", "/api/v1/events/stream"): Case("tenant", intruder_status=(200,), stream=True),
    ("GET", "/api/v1/events/{event_id}"): Case("tenant"),
    ("POST", "/api/v1/events/{event_id}/clip-token"): Case("tenant", body={"scopes": ["clip"]}, owner_status=201),
    # Filtered by A's zone: B gets its own items (none), never A's.
    ("GET", "/api/v1/review-items"): Case("tenant", intruder_status=(200,), query={"zone": "alpha-gate"}),
    ("GET", "/api/v1/review-items/unread"): Case("tenant", intruder_status=(200,), query={"zone": "alpha-gate"}),
    ("POST", "/api/v1/review-items/reviewed"): Case("tenant", body={"zone": "alpha-gate"}, intruder_status=(200,)),
    ("PUT", "/api/v1/review-items/{item_id}/reviewed"): Case("tenant", owner_status=204, intruder_status=(404,)),
    ("DELETE", "/api/v1/review-items/{item_id}/reviewed"): Case("tenant", owner_status=204, intruder_status=(404,)),
    ("GET", "/api/v1/reviews/unread"): Case("tenant", intruder_status=(200,), query={"zone": "alpha-gate"}),
    ("POST", "/api/v1/reviews/mark-all"): Case("tenant", body={"zone": "alpha-gate"}, intruder_status=(200,)),
    ("PUT", "/api/v1/reviews/events/{event_id}"): Case("tenant", owner_status=204),
    ("DELETE", "/api/v1/reviews/events/{event_id}"): Case("tenant", owner_status=204),
    ("GET", "/api/v1/archives"): Case("tenant", intruder_status=(200,)),
    ("GET", "/api/v1/archives/{cid}"): Case("tenant"),
    ("POST", "/api/v1/archives/{cid}/download"): Case("tenant"),
    # Push notifications: the signed-in member's own browsers and rules.
    ("GET", "/api/v1/notifications/vapid-key"): Case("tenant", intruder_status=(200,)),
    ("GET", "/api/v1/notifications/subscriptions"): Case("tenant", intruder_status=(200,)),
    ("POST", "/api/v1/notifications/subscriptions"): Case(
        "tenant", body=lambda owner: _BROWSER.subscription() | {"endpoint": f"https://fcm.googleapis.com/fcm/send/{'a' if owner else 'b'}2"},
        owner_status=201, intruder_status=(201,)),
    ("DELETE", "/api/v1/notifications/subscriptions/{subscription_id}"): Case("tenant", owner_status=204),
    ("GET", "/api/v1/notifications/rules"): Case("tenant", intruder_status=(200,)),
    ("PUT", "/api/v1/notifications/rules"): Case("tenant", body={"labels": ["person"]}, intruder_status=(200,)),
    # Operators only.
    ("GET", "/api/v1/relays"): Case("operator"),
    ("POST", "/api/v1/relays"): Case("operator", body={"name": "x", "endpoint_url": "https://x.example.org",
                                                       "public_key": "A" * 43}),
    ("GET", "/api/v1/relays/{relay_id}"): Case("operator"),
    ("PATCH", "/api/v1/relays/{relay_id}"): Case("operator", body={"enabled": True}),
    ("GET", "/api/v1/fleet"): Case("operator"),
    # Relay-signed.
    ("POST", "/api/v1/ingest"): Case("relay"),
    ("GET", "/api/v1/relay/whoami"): Case("relay", intruder_status=(200,)),
    ("GET", "/api/v1/relay/revocations"): Case("relay", intruder_status=(200,)),
    ("GET", "/api/v1/relay/configs"): Case("relay", intruder_status=(200,)),
    ("POST", "/api/v1/relay/bootstrap/consume"): Case("relay", owner_status=204),
    ("GET", "/api/v1/relay/archive-quota"): Case("relay", intruder_status=(200,)),
}

# A CIDv1 (raw, sha2-256) for tenant A's archived clip.
A_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"


@pytest.fixture
def settings(db_url: str, signing_key: Any) -> Any:
    """The shared settings plus an archive store (presigning needs no network)."""
    return make_settings(db_url, signing_key, archive={
        "endpoint_url": "http://127.0.0.1:9", "access_key_id": "reader", "secret_access_key": "reader-secret"})


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, walking included routers."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute | Route):
                for method in route.methods or ():
                    if method != "HEAD":
                        found.add((method, route.path))
            inner = getattr(route, "original_router", None) or getattr(route, "app", None)
            if inner is not None and hasattr(inner, "routes") and not isinstance(route, APIRoute | Route):
                walk(inner.routes)

    walk(app.routes)
    return found


def test_route_table_covers_every_route(app) -> None:
    routes = app_routes(app)
    assert routes - CASES.keys() == set(), "new routes need an isolation case"
    assert CASES.keys() - routes == set(), "stale isolation cases"
    # Cross-check with the OpenAPI document, which FastAPI builds from the same routes.
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= routes


@dataclass
class World:
    a_admin: Any
    b_admin: Any
    a_relay: Any
    b_relay: Any
    ids: dict[str, str]
    secrets: list[str]
    a_token_nonce: str


def _world(client, app) -> World:
    a_relay, b_relay = add_relay(app, "relay-alpha"), add_relay(app, "relay-bravo")
    a_admin = signup(client, "alpha-admin@alpha.example.org", tenant="Alpha household")
    b_admin = signup(client, "bravo-admin@bravo.example.org", tenant="Bravo household")
    a_viewer = client.post("/api/v1/tenant/members", headers=a_admin.auth, json={
        "email": "alpha-viewer@alpha.example.org", "password": "alpha viewer pw", "role": "viewer"}).json()
    a_ev = batches.event("edge-alpha", "alpha-porch", "person", NOW - timedelta(minutes=5), zones=("alpha-gate",),
                         review_item="a1fa0000-0000-4000-8000-00000000a1fa")
    b_ev = batches.event("edge-bravo", "bravo-yard", "car", NOW - timedelta(minutes=4))
    for relay, ev, dev, cam in ((a_relay, a_ev, "edge-alpha", "alpha-porch"), (b_relay, b_ev, "edge-bravo", "bravo-yard")):
        archives = [batches.archive(dev, ev.event_id, A_CID, 1234)] if relay is a_relay else []
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[ev], healths=[batches.health(dev, {cam: "streaming"})],
                                                             archives=archives))
        assert r.status_code == 200, r.text
    a_camera = client.get("/api/v1/cameras", headers=a_admin.auth).json()[0]
    r = client.put("/api/v1/devices/edge-alpha/config", headers=a_admin.auth, json={"base_version": 0, "cameras": [
        {"name": "alpha-porch", "record": {"url": "rtsp://alpha-porch.example.org/main"}}]})
    assert r.status_code == 201, r.text
    a_tokens = [client.post("/api/v1/bootstrap-tokens", headers=a_admin.auth, json={"label": "alpha-garage"}).json()
                for _ in range(2)]
    a_push = client.post("/api/v1/notifications/subscriptions", headers=a_admin.auth, json=_BROWSER.subscription())
    assert a_push.status_code == 201, a_push.text
    a_live = client.post("/api/v1/devices/edge-alpha/access-token", headers=a_admin.auth,
                         json={"scopes": ["live"], "camera": "alpha-porch"}).json()["live_session_id"]
    ids = {"live_session_id": a_live, "subscription_id": a_push.json()["id"], "event_id": a_ev.event_id, "device_id": "edge-alpha", "camera_id": a_camera["id"],
           "user_id": a_viewer["id"], "token_id": a_tokens[0]["id"], "relay_id": a_relay.id,
           "cid": A_CID, "item_id": a_ev.review_item}
    secrets = [a_admin.tenant_id, a_admin.user_id, a_viewer["id"], a_ev.event_id, "edge-alpha", "alpha-porch",
               a_camera["id"], a_tokens[0]["id"], a_tokens[1]["id"], "Alpha household", "alpha-admin", "alpha-viewer",
               "alpha-garage", a_relay.id, "relay-alpha", A_CID, "alpha-gate", ids["subscription_id"], a_live, "alpha-browser",
               a_ev.review_item]
    return World(a_admin, b_admin, a_relay, b_relay, ids, secrets, a_tokens[1]["id"])


def _call(client, world: World, method: str, path: str, case: Case, *, as_owner: bool, anonymous: bool = False):
    url = path.format(**world.ids)
    member = world.a_admin if as_owner else world.b_admin
    headers = {} if anonymous else dict(member.auth)
    if case.kind == "relay":
        relay = world.a_relay if as_owner else world.b_relay
        if path == "/api/v1/ingest":
            body = batches.batch(relay.id, events=[batches.event("edge-alpha", "alpha-porch", "person", NOW)])
        elif path == "/api/v1/relay/bootstrap/consume":
            body = json.dumps({"nonce": world.a_token_nonce}).encode()
        else:
            body = b""
        headers = {} if anonymous else {**relay.headers(method, url, body), "Content-Type": "application/json"}
        return client.request(method, url, content=body or None, headers=headers)
    if case.stream:
        with client.stream(method, url, headers=headers) as response:
            text = next(response.iter_text(), "") if response.status_code == 200 else response.read().decode()
            response.status_code, response._text = response.status_code, text
            return _Captured(response.status_code, text)
    body = case.body(as_owner) if callable(case.body) else case.body
    return client.request(method, url, json=body, headers=headers, params=case.query)


@dataclass
class _Captured:
    status_code: int
    text: str


def _order(item: tuple[tuple[str, str], Case]) -> tuple[int, str]:
    (method, path), _ = item
    return (1 if method == "DELETE" else 0, path)


def test_every_route_isolates_tenants(client, app) -> None:
    add_operator(app)
    world = _world(client, app)
    failures: list[str] = []
    cases = sorted(((k, c) for k, c in CASES.items() if c.kind != "public"), key=_order)

    for (method, path), case in cases:
        r = _call(client, world, method, path, case, as_owner=False, anonymous=True)
        client.cookies.clear()
        if r.status_code != 401:
            failures.append(f"{method} {path} without credentials → {r.status_code}, not 401")

        r = _call(client, world, method, path, case, as_owner=False)
        client.cookies.clear()
        expected = (403,) if case.kind == "operator" else case.intruder_status
        if r.status_code not in expected:
            failures.append(f"{method} {path} as tenant B → {r.status_code}, expected {expected}: {r.text[:200]}")
        leaked = [s for s in world.secrets if s in r.text]
        if leaked:
            failures.append(f"{method} {path} as tenant B leaked {leaked}")

    # Positive control: the same requests with tenant A's credentials succeed (operator routes: operator).
    operator_token = login(client, "ops@guardian.example.org", "operator-password-1")
    for (method, path), case in cases:
        if case.kind == "operator":
            r = client.request(method, path.format(**world.ids), json=case.body,
                               headers={"Authorization": f"Bearer {operator_token}"})
            want: tuple[int, ...] = (200, 201, 422)  # the fake public key in the body is refused by validation
        else:
            r = _call(client, world, method, path, case, as_owner=True)
            want = case.owner_status if isinstance(case.owner_status, tuple) else (case.owner_status,)
        client.cookies.clear()
        if r.status_code not in want:
            failures.append(f"{method} {path} as owner → {r.status_code}, expected {want}: {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_viewer_cannot_administer(client, app) -> None:
    add_relay(app, "relay-one")
    admin = signup(client, "admin@one.example.org")
    client.post("/api/v1/tenant/members", headers=admin.auth,
                json={"email": "viewer@one.example.org", "password": "viewer password", "role": "viewer"})
    viewer = {"Authorization": f"Bearer {login(client, 'viewer@one.example.org', 'viewer password')}"}
    for method, path, body in (("PATCH", "/api/v1/tenant", {"name": "x"}), ("POST", "/api/v1/bootstrap-tokens", {}),
                               ("GET", "/api/v1/bootstrap-tokens", None),
                               ("POST", "/api/v1/tenant/members", {"email": "z@one.example.org", "password": "z" * 12})):
        r = client.request(method, path, json=body, headers=viewer)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path)
    assert client.get("/api/v1/events", headers=viewer).status_code == 200
