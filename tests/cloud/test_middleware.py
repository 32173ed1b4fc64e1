"""What the response middleware adds to every answer: the access log line, the request metrics, and the
security headers, each header only where the route did not set its own."""

from __future__ import annotations

import io
import json

from fastapi import Response

from guardian.runtime.logging import configure_logging
from tests.cloud.conftest import signup, test_client

EVENT_ID = "a1b2c3d4-private-id"


def test_access_log_names_the_route_template_never_the_raw_path(app) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        with test_client(app) as client:
            member = signup(client, "viewer@home.example.org")
            missing = client.get(f"/api/v1/events/{EVENT_ID}?camera=backyard-secret", headers=member.auth)
            refused = client.post("/api/v1/auth/login?state=xyz789state", json={})
            unknown = client.get("/api/v1/no-such-thing")
    finally:
        configure_logging("INFO")
    assert (missing.status_code, refused.status_code, unknown.status_code) == (404, 422, 404)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line.get("logger", "").startswith("cloud")]  # not the test client's httpx
    access = [(line["method"], line["route"], line["status"]) for line in ours if line["logger"] == "cloud.access"]
    assert ("GET", "/api/v1/events/{event_id}", 404) in access
    assert ("POST", "/api/v1/auth/login", 422) in access
    assert ("GET", "unmatched", 404) in access
    assert all(isinstance(line["ms"], float) and line["ms"] >= 0 for line in ours if line["logger"] == "cloud.access")
    for raw in (EVENT_ID, "backyard-secret", "xyz789state", "no-such-thing"):
        assert raw not in json.dumps(ours)


def test_requests_are_counted_by_route_template_and_status_class(app, client) -> None:
    member = signup(client, "viewer@home.example.org")
    for _ in range(3):
        assert client.get(f"/api/v1/events/{EVENT_ID}", headers=member.auth).status_code == 404
    registry = app.state.cloud.metrics.registry.registry
    labels = {"route": "/api/v1/events/{event_id}", "status": "4xx"}
    assert registry.get_sample_value("guardian_cloud_http_requests_total", labels) == 3
    assert registry.get_sample_value("guardian_cloud_http_request_duration_seconds_count",
                                     {"route": "/api/v1/events/{event_id}"}) == 3


def test_a_routes_own_headers_are_kept_and_the_rest_added(app) -> None:
    @app.get("/api/v1/test-own-headers")
    def own_headers() -> Response:
        return Response(b"{}", media_type="application/json", headers={
            "Cache-Control": "max-age=60", "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "SAMEORIGIN"})

    with test_client(app) as client:
        own = client.get("/api/v1/test-own-headers")
        plain = client.get("/healthz")
    assert own.headers["cache-control"] == "max-age=60"
    assert own.headers["content-security-policy"] == "default-src 'none'"
    assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert own.headers["x-content-type-options"] == "nosniff" and own.headers["referrer-policy"] == "no-referrer"
    # Outside /api/ nothing says no-store; the API's policy still applies to what the API owns.
    assert "cache-control" not in plain.headers
    assert plain.headers["content-security-policy"].startswith("default-src 'self'; frame-ancestors 'none'")
    assert plain.headers.get_list("strict-transport-security") == ["max-age=63072000; includeSubDomains"]
