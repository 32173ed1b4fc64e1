"""The operator's fleet page in real headless Chromium against the real cloud (uvicorn, SQLite) and a real
Alertmanager (Debian's prometheus-alertmanager): an operator signs in, lands on the fleet, sees both
tenants' relays and devices with their status, versions, last report and the alert firing about one device,
filters by status; at phone width the tables become cards and nothing scrolls sideways.
Screenshots at 1280x800 and 390x844 go to test-artifacts/ui/ (fleet-desktop-*.png, fleet-phone-*.png).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from guardian.contracts.user_agent import relay_user_agent
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_operator, add_relay, free_port, make_settings, signup
from tests.cloud.servers import serve
from tests.observability.alerting import process
from tests.ui.browser import BrowserTab
from tests.ui.test_browser_smoke import TIMEOUT_MS

ALERTMANAGER = shutil.which("prometheus-alertmanager")
OPERATOR = ("ops@guardian.example.org", "operator-password-1")  # tests/cloud/conftest.py add_operator

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    ALERTMANAGER is None, reason="Debian prometheus-alertmanager not installed (scripts/setup.sh)")]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    url = f"http://127.0.0.1:{port}"
    with process([str(ALERTMANAGER), f"--config.file={tmp_path / 'alertmanager.yml'}",
                  f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{port}",
                  "--cluster.listen-address="], f"{url}/-/ready"):
        yield url


def ingest(base: str, relay: RelayHandle, healths: list[Any], user_agent: str = "python-httpx") -> None:
    path = "/api/v1/ingest"
    body = batches.batch(relay.id, healths=healths)
    r = httpx.post(base + path, content=body, headers={**relay.headers("POST", path, body),
                                                        "Content-Type": "application/json", "User-Agent": user_agent})
    assert r.status_code == 200, r.text


@pytest.fixture
def fleet(tmp_path: Path, ui_dist: Path, alertmanager: str) -> Iterator[str]:
    """Two tenants on two relays (a third relay in the pool, never seen); four devices: healthy, degraded
    with a camera down, offline for 40 minutes with "edge offline" firing, never connected."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    app = create_app(make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                                   http={"ui_dir": str(ui_dist), "cors_origins": []},
                                   alertmanager={"url": alertmanager}))
    north, south = add_relay(app, "relay-north"), add_relay(app, "relay-south")
    add_operator(app)
    now = datetime.now(UTC)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        lake = signup(client, "owner@lake.example.org", tenant="Lake house", app=app)
        signup(client, "owner@city.example.org", tenant="City flat", app=app)
        add_relay(app, "relay-spare")  # after the sign-ups took the other two
        ingest(base, north, [batches.health("edge-lake-kitchen", {"kitchen": "streaming", "door": "streaming"}),
                             batches.health("edge-lake-garage", {"garage": "failed", "drive": "streaming"}, status=2)],
               user_agent=relay_user_agent("1.4.2"))
        ingest(base, south, [batches.health("edge-city-hall", {"hall": "failed"}, status=3,
                                            last_seen=now - timedelta(minutes=40)),
                             batches.health("edge-city-new", {}, status=3, last_seen=None)])
        r = httpx.post(f"{alertmanager}/api/v2/alerts", json=[{
            "labels": {"alertname": "GuardianEdgeOffline", "severity": "warning", "tenant": lake.tenant_id,
                       "relay": south.id, "device": "edge-city-hall"},
            "annotations": {"summary": "Edge edge-city-hall is offline"},
            "startsAt": (now - timedelta(minutes=38)).isoformat()}])
        assert r.status_code == 200, r.text
        yield base


def sign_in(tab: BrowserTab) -> None:
    tab.sign_in(*OPERATOR, landing="Fleet")  # an operator without a tenant lands here
    p = tab.page
    p.locator("[data-device=edge-city-hall]").wait_for()


def no_sideways_scroll(tab: BrowserTab) -> None:
    overflow = tab.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    # Nor does a table inside its box (the table wrappers would scroll on their own).
    hidden = tab.page.evaluate("[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth - w.clientWidth)")
    assert all(px <= 0 for px in hidden), f"a table scrolls sideways: {hidden} px"


def test_fleet_page_at_desktop_and_phone_width(fleet: str, browser: Any, artifacts: Path) -> None:
    desktop = BrowserTab(browser, fleet, artifacts, "fleet-desktop", TIMEOUT_MS, viewport={"width": 1280, "height": 800})
    p = desktop.page
    sign_in(desktop)
    assert p.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts() == ["Fleet"]
    relays = p.get_by_test_id("relays")
    assert relays.locator("tbody tr").count() == 3
    assert "Never Seen" in relays.locator("tr", has_text="relay-spare").inner_text()
    north = relays.locator("tr", has_text="relay-north").inner_text()
    assert "Online" in north and "1.4.2" in north
    hall = p.locator("[data-device=edge-city-hall]").inner_text()
    assert "Offline" in hall and "40 minutes ago" in hall and "EdgeOffline" in hall and "relay-south" in hall
    garage = p.locator("[data-device=edge-lake-garage]").inner_text()
    assert "Degraded" in garage and "1 down" in garage and "0.1.0" in garage
    assert "never" in p.locator("[data-device=edge-city-new]").inner_text()
    assert "3 relays · 4 devices · 1 firing alert" in p.get_by_test_id("fleet-summary").inner_text()
    no_sideways_scroll(desktop)
    desktop.shot("all")
    # Nothing tenant-private on the page: no e-mail, home name or camera name.
    text = p.locator("main").inner_text()
    assert not [s for s in ("owner@", "Lake house", "City flat", "kitchen", "garage", "drive") if s in text.replace(
        "edge-lake-kitchen", "").replace("edge-lake-garage", "")]

    p.get_by_test_id("device-filter").select_option("attention")
    assert p.get_by_test_id("devices").locator("tbody tr").count() == 3  # all but the healthy kitchen
    p.get_by_test_id("device-filter").select_option("offline")
    rows = p.get_by_test_id("devices").locator("tbody tr")
    assert sorted(rows.nth(i).get_attribute("data-device") or "" for i in range(rows.count())) == [
        "edge-city-hall", "edge-city-new"]
    desktop.shot("offline")
    desktop.close()

    phone = BrowserTab(browser, fleet, artifacts, "fleet-phone", TIMEOUT_MS, viewport={"width": 390, "height": 844},
                       is_mobile=True, has_touch=True)
    sign_in(phone)
    no_sideways_scroll(phone)
    card = phone.page.locator("[data-device=edge-city-hall]")
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    phone.shot("all")
    phone.page.get_by_role("button", name="Menu").click()
    phone.page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet").wait_for()
    phone.shot("menu")
    phone.close()
