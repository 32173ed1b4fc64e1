"""Hostile input at the edge of the API, on SQLite and on PostgreSQL (the production database, which
refuses NUL in text and would answer 500): control characters and extreme dates get a clear 422.

Found by a fuzzer and hand-made probes; every case here answered 500 before (or stored a NUL).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.cloud import batches
from tests.cloud.conftest import add_operator, add_relay, login, signup

NUL = "A\u0000B"


def _refused(response, field: str | None = None, words: str = "control characters") -> None:
    assert response.status_code == 422, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] in ("invalid_request", "bad_cursor"), error
    if field is not None:
        problems = {d["field"]: d["problem"] for d in error["details"]}
        assert field in problems, problems
        assert words in problems[field], problems


@pytest.mark.parametrize("until", [
    "0001-01-01T00:00:00Z",
    "0001-01-01T10:00:00+12:00",  # before year 1 in UTC
    "9999-12-31T23:59:59.999999-14:00",  # after year 9999 in UTC
    "1969-12-31T23:59:59Z",
])
def test_extreme_dates_are_refused(client, until) -> None:
    member = signup(client, "dates@a.example.org")
    for path in ("/api/v1/events", "/api/v1/events/counts"):
        for name in ("since", "until"):
            r = client.get(path, params={name: until}, headers=member.auth)
            _refused(r, f"query.{name}", "1970-01-01T00:00:00Z")
    assert client.get("/api/v1/events/counts", params={"bucket": "day", "until": until},
                      headers=member.auth).status_code == 422


def test_dates_need_a_zone_and_iso_form(client) -> None:
    member = signup(client, "iso@a.example.org")
    _refused(client.get("/api/v1/events", params={"since": "2024-01-01T00:00:00"}, headers=member.auth),
             "query.since", "time zone")
    _refused(client.get("/api/v1/events", params={"since": "1700000000"}, headers=member.auth),
             "query.since", "ISO 8601")
    # The bounds themselves, and the counts' default range next to them, are fine.
    for params in ({"until": "1970-01-01T00:00:00Z"}, {"since": "1970-01-01T00:00:00Z", "until": "1970-01-02T00:00:00+01:00"},
                   {"until": "9998-12-31T09:59:59-14:00"}, {"bucket": "day", "until": "1970-01-05T00:00:00Z"}):
        r = client.get("/api/v1/events/counts", params=params, headers=member.auth)
        assert r.status_code == 200, (params, r.text)
        assert r.json() == []
    assert client.get("/api/v1/events", params={"until": "9998-12-31T23:59:59Z"}, headers=member.auth).json() == {
        "items": [], "next_cursor": None}


def test_forged_cursors_are_refused(client) -> None:
    member = signup(client, "cursor@a.example.org")
    # Out of the schema's pattern (a time past year 9892 that would overflow, a NUL, the old base64
    # form, a trailing line break): refused before any query.
    for cursor in ("999999999999999999999~x", "250000000000000000~x", f"1~{NUL}", "1~x\n",
                   base64.urlsafe_b64encode(b"2024-01-01T00:00:00+00:00|x").decode()):
        r = client.get("/api/v1/events", params={"cursor": cursor}, headers=member.auth)
        _refused(r, "query.cursor", words="")
    # Whatever the pattern allows is a position in the inventory, never a 422 (schemathesis: a
    # schema-valid cursor was refused).
    for cursor in ("0~x", "249999999999999999~" + "z" * 64, "1700000000000000~~|x"):
        r = client.get("/api/v1/events", params={"cursor": cursor}, headers=member.auth)
        assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}, (cursor, r.text)


def test_signup_and_login_refuse_control_characters(client) -> None:
    body = {"email": "nul@a.example.org", "password": "correct horse battery", "tenant_name": NUL}
    _refused(client.post("/api/v1/auth/signup", json=body), "body.tenant_name")
    _refused(client.post("/api/v1/auth/signup", json={**body, "tenant_name": "Line\nbreak"}), "body.tenant_name")
    _refused(client.post("/api/v1/auth/signup", json={**body, "tenant_name": "Home", "password": "correct horse\u0000battery"}),
             "body.password")
    assert client.post("/api/v1/auth/signup", json={**body, "email": "n\u0000ul@a.example.org", "tenant_name": "Home"}
                       ).status_code == 422
    _refused(client.post("/api/v1/auth/login", json={"email": "nul@a.example.org", "password": NUL}), "body.password")
    # Nothing was created; the same sign-up without the NUL works (unicode is fine, only control characters are not).
    member = signup(client, "nul@a.example.org", tenant="Zuhause – Küche ✓")
    assert client.get("/api/v1/tenant", headers=member.auth).json()["name"] == "Zuhause – Küche ✓"


def test_text_fields_and_parameters_refuse_control_characters(client, app) -> None:
    relay = add_relay(app, "relay-nul")
    member = signup(client, "owner@nul.example.org")
    ev = batches.event("edge-1", "porch", "person", datetime.now(UTC) - timedelta(minutes=1))
    assert relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[ev], healths=[
        batches.health("edge-1", {"porch": "streaming"})])).status_code == 200
    camera_id = client.get("/api/v1/cameras", headers=member.auth).json()[0]["id"]
    h = member.auth
    # Query parameters.
    for name in ("label", "camera"):
        _refused(client.get("/api/v1/events", params={name: NUL}, headers=h), f"query.{name}")
        _refused(client.get("/api/v1/events/counts", params={name: NUL}, headers=h), f"query.{name}")
    _refused(client.get("/api/v1/archives", params={"event_id": NUL}, headers=h), "query.event_id")
    # Bodies.
    _refused(client.patch("/api/v1/tenant", json={"name": NUL}, headers=h), "body.name")
    _refused(client.patch("/api/v1/devices/edge-1", json={"name": NUL}, headers=h), "body.name")
    _refused(client.patch(f"/api/v1/cameras/{camera_id}", json={"display_name": NUL}, headers=h), "body.display_name")
    _refused(client.post("/api/v1/bootstrap-tokens", json={"label": NUL}, headers=h), "body.label")
    _refused(client.post("/api/v1/tenant/members", json={"email": "v@nul.example.org", "password": "viewer\u0000password",
                                                         "role": "viewer"}, headers=h), "body.password")
    _refused(client.post("/api/v1/users/me/password", json={"current_password": NUL, "new_password": "a brand new password"},
                         headers=h), "body.current_password")
    # Ids in paths (as %00, the way a client sends it).
    for method, path in (("GET", "/api/v1/events/a%00b"), ("GET", "/api/v1/devices/a%00b"),
                         ("PATCH", "/api/v1/devices/a%00b"), ("DELETE", "/api/v1/devices/a%00b"),
                         ("GET", "/api/v1/cameras/a%00b"), ("PATCH", "/api/v1/tenant/members/a%00b"),
                         ("DELETE", "/api/v1/tenant/members/a%00b"), ("GET", "/api/v1/archives/a%00b"),
                         ("POST", "/api/v1/archives/a%00b/download"), ("POST", "/api/v1/events/a%00b/clip-token"),
                         ("DELETE", "/api/v1/bootstrap-tokens/a%00b"), ("GET", "/a%00b.js")):
        json = {"name": "x", "role": "viewer", "display_name": "x"} if method == "PATCH" else None
        r = client.request(method, path, headers=h, json=json)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (method, path, r.text)
    # OpenID Connect callback parameters (refused before anything else looks at them).
    for name in ("state", "code", "error"):
        assert client.get("/api/v1/auth/oidc/callback", params={name: NUL}).status_code == 422
    # The rows are unchanged and readable.
    assert client.get("/api/v1/tenant", headers=h).json()["name"] == "Home"
    assert [e["id"] for e in client.get("/api/v1/events", headers=h).json()["items"]] == [ev.event_id]


def test_operator_inputs_refuse_control_characters(client, app) -> None:
    add_operator(app)
    h = {"Authorization": f"Bearer {login(client, 'ops@guardian.example.org', 'operator-password-1')}"}
    key = "A" * 43
    _refused(client.post("/api/v1/relays", json={"name": "r1", "endpoint_url": "https://r1.example.org/\u0000",
                                                 "public_key": key}, headers=h), "body.endpoint_url")
    for path in ("/api/v1/relays/a%00b",):
        assert client.get(path, headers=h).status_code == 422
        assert client.patch(path, json={"enabled": False}, headers=h).status_code == 422


def test_device_free_text_with_control_characters_is_stored_cleaned(client, app) -> None:
    """Health reasons are the device's free text: a NUL or line break does not refuse the batch (its
    events would be held back for ever), it becomes a space."""
    relay = add_relay(app, "relay-text")
    member = signup(client, "owner@text.example.org")
    health = batches.health("edge-1", {})
    health.reason = "camera\u0000failed\nretrying"
    health.agent_version = "1.0\u0000"
    ev = batches.event("edge-1", "porch", "person", datetime.now(UTC) - timedelta(minutes=1))
    r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[ev], healths=[health]))
    assert r.status_code == 200, r.text
    assert r.json()["eventsAccepted"] == 1
    device = client.get("/api/v1/devices/edge-1", headers=member.auth).json()
    assert device["reason"] == "camera failed retrying" and device["agent_version"] == "1.0 "


def test_openapi_documents_the_input_types(client) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/events"]["get"]["parameters"]}
    since = next(s for s in params["since"]["schema"]["anyOf"] if s.get("type") == "string")
    assert since["format"] == "date-time" and since["formatMinimum"] == "1970-01-01T00:00:00Z"
    assert since["formatExclusiveMaximum"] == "9999-01-01T00:00:00Z"
    # The standard keyword says it too (a conservative year range), for fuzzers and generated clients.
    pattern = re.compile(since["pattern"])
    assert pattern.match("2024-05-01T12:00:00+02:00") and pattern.match("9997-12-31T23:59:59.5-14:00")
    assert not any(pattern.match(v) for v in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-05-01T12:00:00",
                                              "1700000000"))
    label = next(s for s in params["label"]["schema"]["anyOf"] if s.get("type") == "string")
    assert label["pattern"] == r"^[^\x00-\x1f\x7f]*$"
    signup_schema = spec["components"]["schemas"]["SignupCreate"]["properties"]
    assert signup_schema["tenant_name"]["pattern"] == r"^[^\x00-\x1f\x7f]*$"
    relay = spec["components"]["schemas"]["RelayCreate"]["properties"]
    assert relay["name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]*$"  # its own, stricter pattern is kept
