"""Zones and masks drawn with real mouse clicks on the Cameras page (issue #17), in headless Chromium
against the real cloud (uvicorn, SQLite).

A tenant admin adds a camera and draws a mask with the mouse on the blank 16:9 frame (the camera has no
picture yet), names it and saves; then, on a phone (390×844, touch, same session), edits the camera and
draws a zone by tapping. What the browser sent and what the cloud hands the relays hold both polygons,
normalised to 0..1 of the picture. Screenshots at both sizes go to test-artifacts/ui/.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud.conftest import RelayHandle, add_relay, make_settings
from tests.cloud.servers import serve
from tests.ui.browser import BrowserTab
from tests.ui.test_browser_smoke import TIMEOUT_MS, Page, nav
from tests.ui.test_camera_config import DEVICE, report

pytestmark = pytest.mark.slow

MASK = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.6), (0.1, 0.6)]
ZONE = [(0.6, 0.2), (0.9, 0.3), (0.7, 0.8)]


@pytest.fixture
def cloud(tmp_path: Path, ui_dist: Path) -> Iterator[tuple[str, RelayHandle]]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(ui_dist), "cors_origins": []})
    app = create_app(settings)
    relay = add_relay(app, "relay-a")
    with serve(app) as base:
        yield base, relay


def draw(page: Any, points: list[tuple[float, float]], *, touch: bool = False) -> None:
    """Click (or tap) each point (fractions of the drawing surface), then the first one again to close it."""
    surface = page.get_by_test_id("zone-surface")
    surface.scroll_into_view_if_needed()
    box = surface.bounding_box()
    assert box is not None
    for x, y in [*points, points[0]]:
        at = (box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.touchscreen.tap(*at) if touch else page.mouse.click(*at)


def assert_polygon(polygon: dict[str, Any], name: str, points: list[tuple[float, float]]) -> None:
    assert polygon["name"] == name
    got = [(p["x"], p["y"]) for p in polygon["points"]]
    assert len(got) == len(points), got
    for (x, y), (want_x, want_y) in zip(got, points, strict=True):
        assert 0 <= x <= 1 and 0 <= y <= 1
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01, (got, points)  # a pixel or two of rounding


def test_draw_mask_and_zone_on_desktop_and_phone(cloud, browser, artifacts: Path) -> None:
    base, relay = cloud
    tab = Page(browser, base, artifacts, "camera-zones")
    p = tab.page
    p.set_viewport_size({"width": 1280, "height": 800})
    tab.signup(f"ola-{uuid.uuid4().hex[:6]}@example.org", "Cabin")
    tab.add_first_device("relay-a.relays.example.org:443")
    report(base, relay, ingest_pb2.ConfigStatus(device_id=DEVICE), health=True)

    sent: list[str] = []
    p.on("request", lambda r: sent.append(r.post_data or "") if r.method == "PUT" else None)
    nav(p, "Cameras")
    p.get_by_role("button", name=f"Add a camera to {DEVICE}").click()
    p.get_by_label("Camera name").fill("Drive")
    p.get_by_label("Stream address").fill("rtsp://192.168.1.20:554/stream1")
    p.get_by_test_id("zone-blank").wait_for()  # no picture before the camera is saved: the blank frame
    p.get_by_label("Draw a mask (ignored area)").check()
    draw(p, MASK)
    p.get_by_label("Name of mask 1").fill("street")
    tab.shot("desktop")
    p.get_by_role("button", name="Add camera", exact=True).click()
    p.get_by_text("Saved as version 1").wait_for()
    [drive] = json.loads(sent[0])["cameras"]
    assert drive["detection"]["zones"] == []
    [mask] = drive["detection"]["masks"]
    assert_polygon(mask, "street", MASK)

    # A phone with a touch screen, signed in as the same person: edit the camera, tap a zone.
    phone = BrowserTab(browser, base, artifacts, "camera-zones-phone", TIMEOUT_MS, viewport={"width": 390, "height": 844},
                       has_touch=True, is_mobile=True, storage_state=tab.context.storage_state())
    q = phone.page
    q.on("request", lambda r: sent.append(r.post_data or "") if r.method == "PUT" else None)
    q.goto("/cameras")
    q.get_by_role("button", name="Edit Drive").tap()
    q.get_by_role("button", name="Point 1 of mask street").wait_for(state="attached")
    draw(q, ZONE, touch=True)
    q.get_by_label("Name of zone 1").wait_for()
    assert q.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.shot("zone")
    q.get_by_role("button", name="Save camera").tap()
    q.get_by_text("Saved as version 2").wait_for()
    detection = json.loads(sent[1])["cameras"][0]["detection"]
    assert_polygon(detection["zones"][0], "zone-1", ZONE)
    assert_polygon(detection["masks"][0], "street", MASK)

    # What the relays are handed (and the edge applies): the same normalised polygons.
    path = "/api/v1/relay/configs"
    feed = httpx.get(base + path, headers=relay.headers("GET", path))
    assert feed.status_code == 200, feed.text
    [desired] = feed.json()["configs"]
    shapes = desired["cameras"][0]["detection"]
    assert_polygon(shapes["masks"][0], "street", MASK)
    assert_polygon(shapes["zones"][0], "zone-1", ZONE)
    phone.close()
    tab.close()
