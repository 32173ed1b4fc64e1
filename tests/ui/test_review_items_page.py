"""The review items page (issue #20) in real headless Chromium against the real cloud (uvicorn, SQLite)
serving ui/dist: a household with a dozen items on two cameras. At phone size (390x844) the filters fold
behind a button and at least six items fit on the first screen; at desktop size the filter form shows. The
unread badges count items (not events), per camera too; "Mark all reviewed" marks the items the filters
select and the counts follow; axe-core finds no violations at either size.
Screenshots go to test-artifacts/ui/ (review-items-phone-*.png, review-items-desktop-*.png).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import add_relay, make_settings, signup
from tests.cloud.servers import serve
from tests.ui.browser import BrowserTab
from tests.ui.test_browser_smoke import TIMEOUT_MS, ingest
from tests.ui.test_push_notifications import axe_violations

pytestmark = pytest.mark.slow

OWNER = ("owner@lake.example.org", "correct horse battery")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory, ui_dist: Path) -> Iterator[str]:
    """Within the last hour: on the porch, 7 walks by (person, then a dog with them: 2 events each; the
    last one an alert in the gate zone); in the yard, 6 cars from an older edge (an item of one each)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('review-items') / 'cloud.db'}"
    migrate(url)
    app = create_app(make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                                   http={"ui_dir": str(ui_dist), "cors_origins": []}))
    relay = add_relay(app, "relay-a")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    events = []
    for i in range(7):
        item, when = str(uuid.uuid4()), start + timedelta(minutes=6 * i)
        events += [batches.event("edge-1", "porch", "person", when, review_item=item),
                   batches.event("edge-1", "porch", "dog", when + timedelta(seconds=4), review_item=item,
                                 zones=("gate",) if i == 6 else ())]
    events[-1].severity = ingest_pb2.SEVERITY_ALERT
    events += [batches.event("edge-1", "yard", "car", start + timedelta(minutes=6 * i + 3)) for i in range(6)]
    with serve(app) as base, httpx.Client(base_url=base) as client:
        signup(client, OWNER[0], OWNER[1], tenant="Lake house", app=app)
        ingest(base, relay, events=events, healths=[batches.health("edge-1", {"porch": "streaming", "yard": "streaming"})])
        yield base


def open_items(tab: BrowserTab) -> None:
    tab.sign_in(*OWNER, landing="Dashboard")
    p = tab.page
    p.goto("/events")
    p.locator("li.item").nth(12).wait_for()  # all 13 items
    p.get_by_test_id("unread-badge").wait_for()


def badge(tab: BrowserTab) -> str:
    return tab.page.get_by_test_id("unread-badge").text_content() or ""  # as written (CSS capitalises it)


def test_items_page_at_desktop_size(household: str, browser: Any, artifacts: Path) -> None:
    """First: it reads the household as seeded (the phone test marks the porch's items)."""
    tab = BrowserTab(browser, household, artifacts, "review-items-desktop", TIMEOUT_MS)
    p = tab.page
    open_items(tab)
    assert p.get_by_role("form", name="Filter events").is_visible()  # no folding on a wide screen
    assert badge(tab) == "13 unreviewed"
    assert p.get_by_test_id("camera-unread").all_text_contents() == ["porch 7", "yard 6"]
    walk = p.locator("li.item").first
    assert walk.locator(".event-label").inner_text() == "Person, Dog"
    assert walk.get_by_text("Alert").is_visible() and walk.get_by_test_id("zone-chip").text_content() == "gate"
    tab.shot("all")
    assert axe_violations(p) == []
    tab.close()


def test_items_page_at_phone_size(household: str, browser: Any, artifacts: Path) -> None:
    tab = BrowserTab(browser, household, artifacts, "review-items-phone", TIMEOUT_MS, viewport=PHONE,
                     is_mobile=True, has_touch=True)
    p = tab.page
    open_items(tab)
    assert badge(tab) == "13 unreviewed"  # items, not the 20 events
    # The filters are folded behind their button; at least six items on the first screen, none sideways.
    assert p.get_by_role("button", name="Filters").get_attribute("aria-expanded") == "false"
    assert not p.get_by_role("form", name="Filter events").is_visible()
    boxes = [box for row in p.locator("li.item").all() if (box := row.bounding_box()) is not None]
    first_screen = [b for b in boxes if b["y"] >= 0 and b["y"] + b["height"] <= PHONE["height"]]
    assert len(first_screen) >= 6, f"{len(first_screen)} items on the first screen: {boxes[:8]}"
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes)
    assert p.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    p.screenshot(path=str(artifacts / "review-items-phone-first-screen.png"))
    assert axe_violations(p) == []

    # A camera's unread badge filters on it; "Mark all reviewed" marks its items, the counts follow.
    p.get_by_test_id("camera-unread").filter(has_text="porch").click()
    p.get_by_role("button", name="Remove filter Camera: porch").wait_for()
    p.wait_for_function("() => document.querySelectorAll('li.item').length === 7")  # the porch's items only
    assert badge(tab) == "7 unreviewed"
    p.get_by_role("button", name="Mark all reviewed").click()
    p.locator("[data-testid=unread-badge]", has_text="All reviewed").wait_for()
    assert p.locator("li.item[data-reviewed=false]").count() == 0
    p.get_by_role("button", name="Filters").click()
    assert p.get_by_role("form", name="Filter events").is_visible()
    tab.shot("porch-reviewed")
    assert axe_violations(p) == []
    p.get_by_role("button", name="Remove filter Camera: porch").click()
    p.locator("[data-testid=unread-badge]", has_text="6 unreviewed").wait_for()  # the yard's items: untouched
    p.locator("li.item").nth(12).wait_for()
    assert p.locator("li.item[data-reviewed=false]").count() == 6
    tab.close()
