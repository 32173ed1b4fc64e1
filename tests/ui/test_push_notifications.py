"""Push notifications in headless Chromium against the real cloud (uvicorn, SQLite) and the built UI.

The page registers the UI's real service worker (ui/public/sw.js). A relay's batch stores an event; the
cloud pushes it to a local RFC 8030 push service (tests/fakes/push_service.py), which checks the VAPID JWT
and decrypts it with the subscription's keys; that decrypted message is handed to the service worker
through the DevTools protocol (``ServiceWorker.deliverPushMessage``), as the browser's push service would.
The worker shows the notification (read back with ``registration.getNotifications()``) and tells the open
page; a second push of the same review item replaces it (its tag is the item's key). Headless Chromium has
no notification centre to click in, so the click itself is not driven (ui/src/push/sw.test.ts drives the
worker's click handler): the test checks the notification carries the event page's path and that the page
opens there. The member's rules are saved through the Settings page's form.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from cloud.core.webpush import generate_private_key
from guardian.contracts import auth
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, make_settings
from tests.cloud.servers import serve
from tests.fakes.push_service import PushService, push_service
from tests.ui.test_browser_smoke import Page, nav
from tests.ui.test_camera_config import DEVICE

pytestmark = pytest.mark.slow

AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def cloud(tmp_path: Path, ui_dist: Path) -> Iterator[tuple[str, RelayHandle, PushService]]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    private, _public = generate_private_key()
    with push_service() as push:
        settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                                 http={"ui_dir": str(ui_dist), "cors_origins": []},
                                 push={"vapid_private_key": private, "contact": "mailto:ops@guardian.example.org",
                                       "endpoint_origins": [push.url]})
        app = create_app(settings)
        relay = add_relay(app, "relay-a")
        with serve(app) as base:
            yield base, relay, push


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as shown (tests/e2e/test_event_page.py does the same)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through DevTools: the UI's CSP allows no injected <script>
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
        ".map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))")
    return result


def _registration_id(cdp: Any, page: Any) -> str:
    """The id DevTools knows the page's (activated) service worker registration by."""
    found: dict[str, str] = {}
    cdp.on("ServiceWorker.workerVersionUpdated", lambda e: found.update(
        {v["registrationId"]: v["status"] for v in e["versions"]}))
    cdp.send("ServiceWorker.enable")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    deadline = time.monotonic() + 10
    while not (activated := [rid for rid, status in found.items() if status == "activated"]):
        assert time.monotonic() < deadline, f"no activated registration reported: {found}"
        page.wait_for_timeout(20)  # hands control to Playwright, which dispatches the CDP events
    return activated[0]


def test_push_reaches_the_service_worker_and_points_at_the_event(cloud, browser, artifacts: Path) -> None:
    base, relay, push = cloud
    tab = Page(browser, base, artifacts, "push")
    p = tab.page
    tab.context.grant_permissions(["notifications"], origin=base)
    tab.signup(f"noor-{uuid.uuid4().hex[:6]}@example.org", "Cottage")
    tab.add_first_device("relay-a.relays.example.org:443")
    with httpx.Client(base_url=base) as http:
        r = relay.post(http, "/api/v1/ingest", batches.batch(relay.id, healths=[batches.health(DEVICE, {"porch": "streaming"})]))
        assert r.status_code == 200, r.text

    # The member's rules through the Settings page: only people.
    nav(p, "Settings")
    card = p.get_by_role("region", name="Notifications")
    card.get_by_role("checkbox", name="Person").check()
    card.get_by_role("button", name="Save rules").click()
    card.get_by_text("Saved.").wait_for()
    assert card.get_by_role("button", name="Turn on for this browser").is_visible()
    card.get_by_role("checkbox", name="No notifications at night").check()
    card.get_by_label("From").wait_for()
    tab.shot("settings")
    assert axe_violations(p) == []
    p.set_viewport_size({"width": 390, "height": 844})
    tab.shot("settings-phone")
    assert axe_violations(p) == []
    p.set_viewport_size({"width": 1280, "height": 860})
    card.get_by_role("checkbox", name="No notifications at night").uncheck()
    rules = p.request.get("/api/v1/notifications/rules").json()
    assert rules["labels"] == ["person"] and rules["enabled"] is True

    # This browser's keys are the push service's (Chromium offline has no push service of its own).
    fake = push.browser()
    r = p.request.post("/api/v1/notifications/subscriptions", data=json.dumps(fake.subscription()),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.text()

    cdp = tab.context.new_cdp_session(p)
    registration = _registration_id(cdp, p)
    # Installable as an app: the manifest parses, with its icons, and Chromium names no installability error
    # but the one of a private window.
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and '"maskable"' in manifest["data"], manifest
    errors = [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]
    assert [e for e in errors if e != "in-incognito"] == []  # Playwright's contexts are off the record
    p.evaluate("""() => { window.pushed = new Promise((resolve) => navigator.serviceWorker.addEventListener(
        "message", (e) => { if (e.data && e.data.type === "guardian-push") resolve(e.data); })); }""")

    start = datetime.now(UTC) - timedelta(seconds=3)
    item = str(uuid.uuid4())  # the review item the edge put the person in
    car, person = (batches.event(DEVICE, "porch", label, start, zones=("gate",), review_item=item)
                   for label in ("car", "person"))
    with httpx.Client(base_url=base) as http:
        r = relay.post(http, "/api/v1/ingest", batches.batch(relay.id, events=[car, person]))
        assert r.status_code == 200, r.text
    received = push.next()
    assert received.payload["event_id"] == person.event_id  # the car matched no rule
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": registration,
                                                  "data": json.dumps(received.payload)})

    told = p.evaluate("window.pushed")
    assert told["event_id"] == person.event_id and told["url"] == f"/events/{person.event_id}"
    shown = p.evaluate("""navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) =>
        all.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))""")
    assert len(shown) == 1, shown
    assert shown[0]["title"] == "Person · porch" and shown[0]["tag"] == item
    assert shown[0]["data"] == {"url": f"/events/{person.event_id}", "event_id": person.event_id, "review_item": item}
    assert "gate" in shown[0]["body"]

    # A second push of the same item (a retried delivery) replaces the notification instead of adding one.
    again = {**received.payload, "event_id": car.event_id, "label": "car", "url": f"/events/{car.event_id}"}
    p.evaluate("""() => { window.pushed = new Promise((resolve) => navigator.serviceWorker.addEventListener(
        "message", (e) => { if (e.data && e.data.type === "guardian-push") resolve(e.data); })); }""")
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": registration,
                                                  "data": json.dumps(again)})
    assert p.evaluate("window.pushed")["event_id"] == car.event_id
    shown = p.evaluate("""navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) =>
        all.map((n) => ({title: n.title, tag: n.tag, renotify: n.renotify, data: n.data})))""")
    assert [(n["title"], n["tag"], n["renotify"]) for n in shown] == [("Car · porch", item, False)], shown

    # Where a click leads: the page of the item's event the notification shows now.
    assert shown[0]["data"]["url"] == f"/events/{car.event_id}"
    p.goto(shown[0]["data"]["url"])
    p.get_by_role("heading", name="Car").first.wait_for()
    tab.shot("event-page")
    assert push.refused.empty()
    tab.close()
