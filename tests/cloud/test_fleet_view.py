"""The operator's fleet page (``GET /api/v1/fleet``) on SQLite and PostgreSQL: an operator sees the relays and
devices of every tenant, by id and without anything tenant-private; a tenant admin is refused; the alerts
come from a real Alertmanager (Debian's prometheus-alertmanager) and sit on the device or relay their
labels name; an Alertmanager that does not answer is reported in ``alerts_error``, not as a failure; a
relay's version comes from the User-Agent of its own cloud client."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from agents.relay.config import CloudSettings as RelayCloudSettings
from agents.relay.forwarder import CloudClient
from cloud.api.main import create_app
from cloud.tables import Relay
from guardian.contracts.user_agent import installed_version
from tests.cloud import batches
from tests.cloud.conftest import add_operator, add_relay, free_port, login, make_settings, signup, test_client
from tests.cloud.servers import serve
from tests.observability.alerting import process

ALERTMANAGER = shutil.which("prometheus-alertmanager")
NOW = datetime.now(UTC).replace(microsecond=0)
# Everything tenant-private the world below holds: none of it may reach the operator's page.
PRIVATE = ["alpha-admin@alpha.example.org", "bravo-admin@bravo.example.org", "Alpha household", "Bravo household",
           "alpha-porch", "alpha-gate-cam", "bravo-yard", "Porch at the front", "Alpha garage", "person", "car"]


def _world(client: TestClient, app: Any) -> dict[str, Any]:
    """Two tenants, each with its relay and one device; alpha's device has a camera down."""
    relays = {"alpha": add_relay(app, "relay-alpha"), "bravo": add_relay(app, "relay-bravo")}
    admins = {"alpha": signup(client, "alpha-admin@alpha.example.org", tenant="Alpha household"),
              "bravo": signup(client, "bravo-admin@bravo.example.org", tenant="Bravo household")}
    reports = {"alpha": batches.health("edge-alpha", {"alpha-porch": "streaming", "alpha-gate-cam": "failed"}, status=2),
               "bravo": batches.health("edge-bravo", {"bravo-yard": "streaming"}, status=1)}
    events = {"alpha": batches.event("edge-alpha", "alpha-porch", "person", NOW - timedelta(minutes=3)),
              "bravo": batches.event("edge-bravo", "bravo-yard", "car", NOW - timedelta(minutes=2))}
    for name, relay in relays.items():
        r = relay.post(client, "/api/v1/ingest", batches.batch(relay.id, events=[events[name]], healths=[reports[name]]))
        assert r.status_code == 200, r.text
    alpha = admins["alpha"].auth
    assert client.patch("/api/v1/devices/edge-alpha", headers=alpha, json={"name": "Alpha garage"}).status_code == 200
    camera = next(c for c in client.get("/api/v1/cameras", headers=alpha).json() if c["name"] == "alpha-porch")
    assert client.patch(f"/api/v1/cameras/{camera['id']}", headers=alpha,
                        json={"display_name": "Porch at the front"}).status_code == 200
    r = client.put("/api/v1/devices/edge-alpha/config", headers=alpha, json={"base_version": 0, "cameras": [
        {"name": "alpha-porch", "record": {"url": "rtsp://cam.example.org/main"}}]})
    assert r.status_code == 201, r.text
    add_operator(app)
    return {"relays": relays, "admins": admins,
            "operator": {"Authorization": f"Bearer {login(client, 'ops@guardian.example.org', 'operator-password-1')}"}}


def test_an_operator_sees_every_tenant_by_id_and_a_tenant_admin_is_refused(client: TestClient, app: Any) -> None:
    world = _world(client, app)
    r = client.get("/api/v1/fleet", headers=world["operator"])
    assert r.status_code == 200, r.text
    page = r.json()
    relays, admins = world["relays"], world["admins"]

    assert {(x["id"], x["name"], x["tenant_id"], x["status"], x["devices"]) for x in page["relays"]} == {
        (relays["alpha"].id, "relay-alpha", admins["alpha"].tenant_id, "online", 1),
        (relays["bravo"].id, "relay-bravo", admins["bravo"].tenant_id, "online", 1)}
    devices = {d["id"]: d for d in page["devices"]}
    assert devices.keys() == {"edge-alpha", "edge-bravo"}
    alpha, bravo = devices["edge-alpha"], devices["edge-bravo"]
    assert (alpha["tenant_id"], alpha["relay_id"], alpha["status"]) == (admins["alpha"].tenant_id, relays["alpha"].id,
                                                                        "degraded")
    assert (bravo["tenant_id"], bravo["relay_id"], bravo["status"]) == (admins["bravo"].tenant_id, relays["bravo"].id,
                                                                        "healthy")
    assert (alpha["cameras_up"], alpha["cameras_down"], alpha["cameras_total"]) == (1, 1, 2)
    assert (bravo["cameras_up"], bravo["cameras_down"], bravo["cameras_total"]) == (1, 0, 1)
    assert (alpha["agent_version"], alpha["desired_config_version"], alpha["applied_config_version"]) == ("0.1.0", 1, 0)
    assert alpha["last_seen_at"] is not None
    assert (page["alertmanager_configured"], page["alerts_error"], page["other_alerts"]) == (False, None, [])
    leaked = [s for s in PRIVATE if s in r.text]
    assert not leaked, f"tenant-private data on the fleet page: {leaked}"

    # A tenant admin is no operator, whichever tenant.
    for admin in admins.values():
        refused = client.get("/api/v1/fleet", headers=admin.auth)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", refused.text


def test_a_silent_relay_and_a_revoked_device(client: TestClient, app: Any) -> None:
    world = _world(client, app)
    alpha = world["relays"]["alpha"]
    with app.state.cloud.sessions() as session:  # the relay's last call, four minutes ago
        session.get(Relay, alpha.id).last_seen_at = datetime.now(UTC) - timedelta(minutes=4)
        session.commit()
    assert client.delete("/api/v1/devices/edge-alpha", headers=world["admins"]["alpha"].auth).status_code == 204
    page = client.get("/api/v1/fleet", headers=world["operator"]).json()
    assert {r["name"]: (r["status"], r["devices"]) for r in page["relays"]} == {
        "relay-alpha": ("silent", 0), "relay-bravo": ("online", 1)}
    assert [d["id"] for d in page["devices"]] == ["edge-bravo"]


# --- alerts from a real Alertmanager ---------------------------------------------------------------------


@pytest.fixture
def alertmanager_url(tmp_path: Path) -> Iterator[str]:
    if ALERTMANAGER is None:
        pytest.skip("Debian prometheus-alertmanager not installed (scripts/setup.sh)")
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    url = f"http://127.0.0.1:{port}"
    with process([ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], f"{url}/-/ready"):
        yield url


def _fire(alertmanager: str, labels: dict[str, str], summary: str) -> None:
    """What Prometheus sends: an alert firing since a minute ago."""
    r = httpx.post(f"{alertmanager}/api/v2/alerts", timeout=5, json=[{
        "labels": labels, "annotations": {"summary": summary, "runbook_url": "docs/runbooks.md#edge-offline"},
        "startsAt": (NOW - timedelta(minutes=1)).isoformat()}])
    assert r.status_code == 200, r.text


def _silence(alertmanager: str, alertname: str) -> None:
    r = httpx.post(f"{alertmanager}/api/v2/silences", timeout=5, json={
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": (NOW - timedelta(minutes=5)).isoformat(), "endsAt": (NOW + timedelta(hours=1)).isoformat(),
        "createdBy": "test", "comment": "known"})
    assert r.status_code == 200, r.text


def test_firing_alerts_sit_on_their_device_and_relay(db_url: str, signing_key: Any, alertmanager_url: str) -> None:
    app = create_app(make_settings(db_url, signing_key, alertmanager={"url": alertmanager_url}))
    with test_client(app) as client:
        world = _world(client, app)
        alpha_relay, bravo_relay = world["relays"]["alpha"], world["relays"]["bravo"]
        tenant = world["admins"]["alpha"].tenant_id
        _fire(alertmanager_url, {"alertname": "GuardianEdgeOffline", "severity": "warning", "tenant": tenant,
                                 "relay": alpha_relay.id, "device": "edge-alpha"}, "Edge edge-alpha is offline")
        _fire(alertmanager_url, {"alertname": "GuardianForwarderFailing", "severity": "critical",
                                 "relay": bravo_relay.id}, "Relay cannot forward to the cloud")
        _fire(alertmanager_url, {"alertname": "GuardianCloudDown", "severity": "critical"}, "The cloud is down")
        _fire(alertmanager_url, {"alertname": "GuardianRecordingStopped", "severity": "critical",
                                 "device": "edge-bravo", "camera": "bravo-yard"}, "Edge records nothing")
        _silence(alertmanager_url, "GuardianRecordingStopped")
        r = client.get("/api/v1/fleet", headers=world["operator"])
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["alertmanager_configured"], page["alerts_error"]) == (True, None)
    devices = {d["id"]: d for d in page["devices"]}
    relays = {x["id"]: x for x in page["relays"]}
    [offline] = devices["edge-alpha"]["alerts"]
    assert (offline["name"], offline["severity"], offline["summary"], offline["runbook_url"]) == (
        "GuardianEdgeOffline", "warning", "Edge edge-alpha is offline", "docs/runbooks.md#edge-offline")
    assert datetime.fromisoformat(offline["starts_at"]) == NOW - timedelta(minutes=1)
    assert devices["edge-bravo"]["alerts"] == [], "a silenced alert is no news"
    assert relays[alpha_relay.id]["alerts"] == [], "a device's alert sits on the device, not also on its relay"
    assert [a["name"] for a in relays[bravo_relay.id]["alerts"]] == ["GuardianForwarderFailing"]
    assert [a["name"] for a in page["other_alerts"]] == ["GuardianCloudDown"]
    leaked = [s for s in PRIVATE if s in r.text]
    assert not leaked, f"tenant-private data on the fleet page: {leaked}"


def test_alertmanager_down_is_reported_and_the_page_still_answers(db_url: str, signing_key: Any) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(make_settings(db_url, signing_key, alertmanager={"url": nobody}))
    with test_client(app) as client:
        world = _world(client, app)
        r = client.get("/api/v1/fleet", headers=world["operator"])
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["alertmanager_configured"] is True
    assert page["alerts_error"] == "Alertmanager unreachable (ConnectError)"
    assert {d["id"] for d in page["devices"]} == {"edge-alpha", "edge-bravo"}


def test_a_malformed_alertmanager_url_is_refused_by_name(signing_key: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings("sqlite://", signing_key, alertmanager={"url": "alertmanager:9093"})
    [problem] = refused.value.errors()
    assert problem["loc"] == ("alertmanager", "url") and "scheme" in problem["msg"], problem


def test_a_silent_alertmanager_is_given_up_on(db_url: str, signing_key: Any) -> None:
    """A listening socket that never answers (an Alertmanager hung, a firewall dropping): the page answers
    after the configured time-out, saying so."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the kernel's backlog; nothing ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        app = create_app(make_settings(db_url, signing_key, alertmanager={"url": url, "timeout_seconds": 0.2}))
        with test_client(app) as client:
            world = _world(client, app)
            r = client.get("/api/v1/fleet", headers=world["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["alerts_error"] == "Alertmanager did not answer within 0.2 s"


def test_a_relay_names_its_version_in_its_calls(db_url: str, signing_key: Any) -> None:
    """The relay's own cloud client (agents.relay.forwarder) against a served cloud: its version reaches the
    page; a caller that names none (a relay of an older release) leaves it as it was."""
    app = create_app(make_settings(db_url, signing_key))
    with test_client(app) as client:
        world = _world(client, app)
    alpha = world["relays"]["alpha"]

    async def whoami(url: str) -> None:
        relay = CloudClient(RelayCloudSettings(url=url, relay_id=alpha.id, tenant_id=world["admins"]["alpha"].tenant_id),
                            alpha.key)
        try:
            assert (await relay.get("/api/v1/relay/whoami")).status_code == 200
        finally:
            await relay.close()

    with serve(app) as url:
        asyncio.run(whoami(url))
        assert httpx.get(url + "/api/v1/relay/whoami", headers=alpha.headers("GET", "/api/v1/relay/whoami"),
                         timeout=10).status_code == 200  # python-httpx's own User-Agent
        page = httpx.get(url + "/api/v1/fleet", headers=world["operator"], timeout=10).json()
    versions = {r["name"]: r["agent_version"] for r in page["relays"]}
    assert versions == {"relay-alpha": installed_version(), "relay-bravo": ""}
