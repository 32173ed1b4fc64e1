"""Sign-up cannot drain the relay pool: sign-ups are throttled per address and in total, and a tenant
takes a relay only when it adds its first device (cloud/services/accounts.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.api.main import create_app
from cloud.core.config import AuthSettings
from cloud.tables import Relay
from tests.cloud.conftest import add_relay, make_settings, signup

DEFAULTS = {name: AuthSettings.model_fields[name].default
            for name in ("signup_max_per_ip", "signup_max_total", "signup_window_seconds")}


def _client(app, address: str) -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(address, 50000))


def _signup(client: TestClient, n: int):
    body = {"email": f"user{n}@example.org", "password": "correct horse battery", "tenant_name": "Home"}
    response = client.post("/api/v1/auth/signup", json=body)
    client.cookies.clear()
    return response


def test_twelve_signups_from_one_address_are_throttled(db_url, signing_key) -> None:
    app = create_app(make_settings(db_url, signing_key, auth=DEFAULTS))
    limit = DEFAULTS["signup_max_per_ip"]
    assert limit < 12
    with _client(app, "203.0.113.7") as client:
        answers = [_signup(client, n) for n in range(12)]
    assert [r.status_code for r in answers] == [201] * limit + [429] * (12 - limit)
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= DEFAULTS["signup_window_seconds"]
    # Another address is not held back by that one.
    with _client(app, "198.51.100.9") as other:
        assert _signup(other, 100).status_code == 201


def test_signups_are_throttled_globally(db_url, signing_key) -> None:
    app = create_app(make_settings(db_url, signing_key, auth={"signup_max_per_ip": 100, "signup_max_total": 3}))
    codes = []
    for n in range(5):
        with _client(app, f"192.0.2.{n + 1}") as client:
            codes.append(_signup(client, n).status_code)
    assert codes == [201, 201, 201, 429, 429]


def test_signups_take_no_relay_and_the_first_device_does(db_url, signing_key) -> None:
    app = create_app(make_settings(db_url, signing_key))
    with _client(app, "127.0.0.1") as client:
        relay = add_relay(app, "relay-a")
        members = [signup(client, f"owner{n}@example.org", take_relay=False) for n in range(3)]
        for member in members:
            tenant = client.get("/api/v1/tenant", headers=member.auth).json()
            assert tenant["relay_id"] is None and tenant["relay_url"] is None
        with app.state.cloud.sessions() as session:
            assert session.get(Relay, relay.id).tenant_id is None  # the pool is not drained by sign-ups

        # Adding the first device (its bootstrap token) takes the free relay; the second keeps it.
        first = client.post("/api/v1/bootstrap-tokens", json={"label": "porch"}, headers=members[0].auth)
        assert first.status_code == 201, first.text
        assert client.get("/api/v1/tenant", headers=members[0].auth).json()["relay_id"] == relay.id
        again = client.post("/api/v1/bootstrap-tokens", json={"label": "yard"}, headers=members[0].auth)
        assert again.status_code == 201, again.text
        assert client.get("/api/v1/tenant", headers=members[0].auth).json()["relay_id"] == relay.id

        # The pool is empty now: the next tenant's first device gets a clear answer, and no relay.
        empty = client.post("/api/v1/bootstrap-tokens", json={"label": "door"}, headers=members[1].auth)
        assert empty.status_code == 503
        assert empty.json()["error"]["code"] == "relay_pool_empty"
        assert "no relay is free" in empty.json()["error"]["message"]
        assert "Retry-After" in empty.headers
        assert client.get("/api/v1/tenant", headers=members[1].auth).json()["relay_id"] is None

        # A relay added to the pool later goes to the next tenant that adds a device.
        spare = add_relay(app, "relay-b")
        late = client.post("/api/v1/bootstrap-tokens", json={"label": "door"}, headers=members[1].auth)
        assert late.status_code == 201, late.text
        assert client.get("/api/v1/tenant", headers=members[1].auth).json()["relay_id"] == spare.id
