"""The web UI in real headless Chromium against the real cloud app (uvicorn, SQLite) serving ui/dist.

A person signs up, lands on the dashboard, opens the empty timeline, and an event ingested through the
cloud's real path (a relay's Ed25519-signed POST /api/v1/ingest) appears without a reload. A second
tenant sees none of it. Screenshots of each page go to test-artifacts/ui/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, make_settings
from tests.cloud.servers import serve
from tests.ui.browser import BrowserTab

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 10_000


@pytest.fixture
def cloud(tmp_path: Path, ui_dist: Path) -> Iterator[tuple[str, RelayHandle, RelayHandle]]:
    """The cloud on a free port with two relays in the pool: the first home to add a device gets relay-a."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(ui_dist), "cors_origins": []})
    app = create_app(settings)
    relay_a, relay_b = add_relay(app, "relay-a"), add_relay(app, "relay-b")
    with serve(app) as base:
        yield base, relay_a, relay_b


def ingest(base: str, relay: RelayHandle, events=(), healths=()) -> None:
    body = batches.batch(relay.id, events=events, healths=healths)
    path = "/api/v1/ingest"
    response = httpx.post(base + path, content=body,
                          headers={**relay.headers("POST", path, body), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


class Page(BrowserTab):
    """A browser tab that can sign a new tenant up."""

    def __init__(self, browser: Any, base: str, artifacts: Path, name: str) -> None:
        super().__init__(browser, base, artifacts, name, TIMEOUT_MS)

    def signup(self, email: str, home: str) -> None:
        p = self.page
        p.goto("/signup")
        p.get_by_label("E-mail").fill(email)
        p.get_by_label("Password").fill(PASSWORD)
        p.get_by_label("Name of your home").fill(home)
        p.get_by_role("button", name="Create account").click()
        p.get_by_role("heading", name="Dashboard", level=1).wait_for()

    def add_first_device(self, relay_host: str) -> None:
        """A new home holds no relay: its first enrolment token takes one from the pool (as adding a device)."""
        p = self.page
        nav(p, "Devices")
        p.get_by_text("Your relay is assigned when you add your first device").wait_for()
        p.get_by_role("button", name="Create enrolment token").click()
        # A running device's command sits behind a disclosure (the image download comes first).
        p.get_by_text("Or enrol a device that is already running").click()
        p.get_by_text(f"guardian-edge enrol --relay {relay_host} --token-file token.txt").wait_for()
        p.get_by_role("button", name="Done, hide it").click()
        nav(p, "Dashboard")
        p.get_by_role("heading", name="Dashboard", level=1).wait_for()


def test_signup_live_event_and_tenant_isolation(cloud, browser, artifacts: Path) -> None:
    base, relay_a, _relay_b = cloud
    alice = Page(browser, base, artifacts, "tenant-a")
    p = alice.page

    # Signed out: the app sends us to the sign-in page, which links to sign-up.
    p.goto("/")
    p.get_by_role("heading", name="Sign in").wait_for()
    alice.shot("login")
    alice.signup(f"alice-{uuid.uuid4().hex[:6]}@example.org", "Lake house")
    alice.add_first_device("relay-a.relays.example.org:443")
    assert p.get_by_text("Lake house").is_visible()
    p.get_by_text("No devices yet").wait_for()
    alice.shot("dashboard-empty")

    # The empty timeline, with its live stream open.
    nav(p, "Events")
    p.get_by_text("No events yet").wait_for()
    p.locator(".live-live").wait_for()
    alice.shot("events-empty")

    # An event arrives through the relay's signed ingestion and shows up without a reload.
    p.evaluate("window.__noReload = true")
    start = datetime.now(UTC) - timedelta(seconds=5)
    event = batches.event("edge-a", "porch", "person", start)
    ingest(base, relay_a, events=[event], healths=[batches.health("edge-a", {"porch": "streaming", "garden": "failed"})])
    row = p.locator(".event", has_text="Person")
    row.wait_for()
    assert p.evaluate("window.__noReload") is True
    assert row.get_by_text("New").is_visible()
    # Shown in the viewer's zone (the context runs in Europe/Berlin).
    berlin = start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M:%S")
    assert row.locator("time").first.inner_text() == berlin  # the item's start (then its end)
    assert re.search(r"New event: Person on porch", p.locator("[aria-live=polite]").inner_text())
    alice.shot("events-live")

    # Event detail: the relay (a name that does not resolve here) cannot be reached; the page says so.
    row.get_by_role("link").click()
    p.get_by_role("heading", name="Person on porch").wait_for()
    p.locator("[data-clip-state=unreachable]").wait_for()
    alice.shot("event-detail")

    nav(p, "Cameras")
    p.get_by_role("heading", name="porch").wait_for()
    alice.shot("cameras")
    p.get_by_role("button", name="Rename porch").click()
    p.get_by_label("New name").fill("Front porch")
    p.get_by_role("button", name="Save").click()
    p.get_by_role("heading", name="Front porch").wait_for()

    nav(p, "Devices")
    p.get_by_role("cell", name="edge-a", exact=True).wait_for()
    p.get_by_label("Where is it? (optional)").fill("Hall cupboard")
    p.get_by_role("button", name="Create enrolment token").click()
    token = p.get_by_label("Enrolment token", exact=True).input_value()
    assert token.count(".") >= 1 and len(token) > 40
    p.get_by_text("Or enrol a device that is already running").click()
    assert p.get_by_text("guardian-edge enrol --relay relay-a.relays.example.org:443 --token-file token.txt").is_visible()
    alice.shot("devices-token")
    p.get_by_role("button", name="Done, hide it").click()
    assert p.get_by_label("Enrolment token", exact=True).count() == 0

    nav(p, "Settings")
    p.get_by_text("You are on the").wait_for()
    alice.shot("settings")

    nav(p, "Dashboard")
    p.get_by_text("events today").wait_for()
    p.locator(".chart rect").first.wait_for()
    assert p.locator(".stat", has_text="cameras online").locator(".stat-value").inner_text() == "1"
    assert p.locator(".stat", has_text="cameras offline").locator(".stat-value").inner_text() == "1"
    alice.shot("dashboard")

    # Phone width: the navigation folds behind a Menu button that the keyboard can open.
    p.set_viewport_size({"width": 390, "height": 844})
    menu = p.get_by_role("button", name="Menu")
    assert menu.get_attribute("aria-expanded") == "false"
    menu.focus()
    p.keyboard.press("Enter")
    assert menu.get_attribute("aria-expanded") == "true"
    p.get_by_role("navigation", name="Main").get_by_role("link", name="Events", exact=True).wait_for()
    alice.shot("dashboard-phone")
    p.keyboard.press("Enter")
    p.set_viewport_size({"width": 1280, "height": 860})

    # A second tenant, in its own browser context, sees none of it (and no live arrivals either).
    bob = Page(browser, base, artifacts, "tenant-b")
    bob.signup(f"bob-{uuid.uuid4().hex[:6]}@example.org", "Flat")
    q = bob.page
    assert q.locator(".stat", has_text="events today").locator(".stat-value").inner_text() == "0"
    nav(q, "Events")
    q.locator(".live-live").wait_for()
    ingest(base, relay_a, events=[batches.event("edge-a", "porch", "car", datetime.now(UTC))])
    nav(p, "Events")
    p.locator(".event", has_text="Car").wait_for()  # tenant A got its second event …
    q.wait_for_timeout(500)
    assert q.get_by_text("No events yet").is_visible()  # … tenant B nothing
    assert q.locator(".event").count() == 0
    bob.shot("events-isolated")
    listing = q.request.get("/api/v1/events").json()
    assert listing["items"] == []
    q.goto(f"/events/{event.event_id}")
    q.get_by_text("This event could not be loaded").wait_for()  # another tenant's event: not found
    bob.shot("event-other-tenant")

    # Sign out ends the session: protected pages go back to sign-in.
    p.get_by_role("button", name="Sign out").click()
    p.get_by_role("heading", name="Sign in").wait_for()
    p.goto("/events")
    p.get_by_role("heading", name="Sign in").wait_for()
    bob.close()
    alice.close()


@pytest.fixture
def cloud_with_sso(tmp_path: Path, ui_dist: Path) -> Iterator[tuple[str, RelayHandle]]:
    """The cloud with an OpenID Connect provider configured (never contacted here) and one relay."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(ui_dist), "cors_origins": []},
                             oidc={"enabled": True, "issuer": "https://login.invalid/realms/home", "client_id": "guardian",
                                   "redirect_url": "http://127.0.0.1/api/v1/auth/oidc/callback", "display_name": "Keycloak"})
    app = create_app(settings)
    relay = add_relay(app, "relay-a")
    with serve(app) as base:
        yield base, relay


def test_sign_in_options_deep_links_media_policy_and_device_removal(cloud_with_sso, browser, artifacts: Path) -> None:
    base, relay = cloud_with_sso
    carol = Page(browser, base, artifacts, "tenant-c")
    p = carol.page
    requested: list[str] = []
    p.on("request", lambda r: requested.append(r.url))
    # Content-Security-Policy violations, as the page sees them.
    p.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                      "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")

    # The sign-in page offers the provider by name, without starting a login to find out.
    p.goto("/login")
    button = p.get_by_role("link", name="Continue with Keycloak")
    button.wait_for()
    assert button.get_attribute("href") == "/api/v1/auth/oidc/login"
    assert not [u for u in requested if "/auth/oidc/" in u], requested
    carol.shot("login-sso")

    carol.signup(f"carol-{uuid.uuid4().hex[:6]}@example.org", "Cabin")
    carol.add_first_device("relay-a.relays.example.org:443")
    event = batches.event("edge-c", "porch", "person", datetime.now(UTC) - timedelta(seconds=5))
    ingest(base, relay, events=[event], healths=[batches.health("edge-c", {"porch": "streaming"})])

    # A deep link loads the app (200, the UI's index) and its page; the relay may serve the media.
    response = p.goto(f"/events/{event.event_id}")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "media-src 'self' blob: https://relay-a.relays.example.org" in policy
    p.get_by_role("heading", name="Person on porch").wait_for()
    p.locator("[data-clip-state=unreachable]").wait_for()  # the relay's name does not resolve here
    assert p.evaluate("window.__csp") == []  # not blocked by the policy: unreachable for real
    p.evaluate("fetch('https://elsewhere.example.net/x').catch(() => null)")
    p.wait_for_function("window.__csp.length > 0")
    assert p.evaluate("window.__csp")[0].startswith("connect-src https://elsewhere.example.net")

    # Devices: an admin removes one; it is gone after the reload too.
    response = p.goto("/devices")
    assert response is not None and response.status == 200
    p.get_by_role("cell", name="edge-c", exact=True).wait_for()
    p.once("dialog", lambda dialog: dialog.accept())
    p.get_by_role("button", name="Remove edge-c").click()
    p.get_by_text("No devices yet").wait_for()
    carol.shot("devices-removed")
    p.reload()
    p.get_by_text("No devices yet").wait_for()
    feed = httpx.get(base + "/api/v1/relay/revocations", headers=relay.headers("GET", "/api/v1/relay/revocations"))
    assert [r["device_id"] for r in feed.json() if r["kind"] == "device"] == ["edge-c"]
    carol.close()
