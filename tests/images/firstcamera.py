"""Issue #17's "Done when", from the owner's side: a freshly booted edge gets its first camera from the web UI
alone and that camera's events appear in the timeline. Shared by the QEMU boot (tests/images/test_qemu_boot.py)
and the nspawn boot of the same images (tests/images/test_nspawn_cloud.py); the caller boots the images
next to a cloud lab (tests/images/cloudlab.py) and says how the edge reaches the lab's camera."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from demo import pki
from tests.images.bootcheck import ROOT
from tests.images.cloudlab import CAMERA_PASSWORD, CAMERA_USER, EMAIL, PASSWORD, Lab
from tests.ui.browser import BrowserTab
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CAMERA = "Front door"


def first_camera_from_the_ui(lab: Lab, *, camera_at: str, event_timeout_s: float, alive: Callable[[], bool],
                             why_not: Callable[[], str], name: str) -> dict[str, Any]:
    """Wait for the booted edge to be online in the cloud, then in Chromium: sign in, add the camera
    (``rtsp://…@camera_at/cam``, the lab's camera as the edge sees it on its LAN) and wait for its first event
    in the timeline. ``alive``: whether the booted images still run (they end themselves when they give up);
    ``why_not``: their logs, for the failure message. Returns the figures; screenshots go to
    test-artifacts/e2e/NAME-*.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    device = _wait_online(lab, alive, why_not)
    boot_to_online = time.time() - float((lab.dir / "edge.start").read_text())

    from playwright.sync_api import sync_playwright

    # Trust exactly the relay's test certificate (by its key), as a user who imported the CA would.
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pki.spki_sha256(lab.dir / 'relay.pem')}"]
    os.environ.setdefault("PW_TEST_SCREENSHOT_NO_FONTS_READY", "1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            tab = BrowserTab(browser, lab.cloud_url, ARTIFACTS, name, 60_000)
            p = tab.page
            tab.sign_in(EMAIL, PASSWORD, "Dashboard")
            _nav(p, "Cameras")
            device_name = device["name"]
            p.get_by_role("heading", name=device_name, level=2).wait_for()
            p.get_by_role("button", name=f"Add a camera to {device_name}").click()
            p.get_by_label("Camera name").fill(CAMERA)
            # The page splits the login off the address and seals it to the device's key.
            p.get_by_label("Stream address").fill(f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@{camera_at}/cam")
            p.get_by_label("Stream address").blur()
            p.get_by_label("Person").check()
            tab.shot("form")
            clicked = time.monotonic()
            p.get_by_role("button", name="Add camera", exact=True).click()
            p.get_by_text("Saved as version 1").wait_for()
            tab.shot("saved")
            _nav(p, "Events")
            event = p.locator(".event", has_text=CAMERA).first
            try:
                event.wait_for(timeout=event_timeout_s * 1000)
            except Exception:
                tab.shot("timeline-timed-out")
                raise
            add_to_event = time.monotonic() - clicked
            tab.shot("timeline")
            _nav(p, "Cameras")
            p.locator("[data-camera=front-door]").get_by_test_id("apply-state").wait_for()
            tab.shot("cameras")
            tab.close()
        finally:
            browser.close()
    return {"boot_to_online_s": round(boot_to_online, 1), "add_camera_to_event_s": round(add_to_event, 1),
            "device": device["id"]}


def camera_login_absent_from_the_cloud(lab: Lab) -> None:
    """The camera login crossed cloud and relay sealed only: not in the cloud's database in the clear."""
    for db in lab.dir.glob("cloud.db*"):
        assert CAMERA_PASSWORD.encode() not in db.read_bytes(), db


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _wait_online(lab: Lab, alive: Callable[[], bool], why_not: Callable[[], str]) -> dict[str, Any]:
    """The device once the cloud has its health (through the relay) and its key for camera logins. Bounded
    by the booted images themselves: they power off when their end-to-end step gives up."""
    while alive():
        for device in lab.get("/api/v1/devices"):
            if device["last_seen_at"] and device["status"] in ("healthy", "degraded"):
                config = lab.get(f"/api/v1/devices/{device['id']}/config")
                if config.get("config_key"):
                    return dict(device)
        time.sleep(1)
    raise AssertionError("the booted images ended before the device came online:\n" + why_not())
