"""The full boot test under QEMU (TCG): relay and personalised edge disk images.

test_relay_and_edge_boot_enrol_and_an_event_crosses (runs in CI; warm mkosi caches: ~3 min of disk builds, ~6 min
of TCG boots): the edge enrols on its own and one event crosses to the relay. One command outside pytest:
scripts/boot-test.sh --build both.

test_edge_image_gets_its_first_camera_from_the_ui (opt-in, GUARDIAN_BOOT_CLOUD=1; not yet passing): the same boot
(scripts/boot-test.sh --cloud DIR) with a real cloud and the RTSP test camera on the host (tests/images/cloudlab.py);
Chromium signs in to the UI, adds the camera (its login sealed in the browser to the edge's key) and waits for that
camera's first event in the timeline: issue #17's "Done when". Figures and screenshots go to test-artifacts/e2e/.
The faster nspawn check (test_nspawn_boot.py) stays for what it covers on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from demo import pki
from tests.images.bootcheck import CACHE, ROOT
from tests.images.cloudlab import CAMERA_PASSWORD, CAMERA_USER, EMAIL, PASSWORD, Lab, cloud_lab
from tests.ui.browser import BrowserTab
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),  # disk builds and TCG boots: the scripts bound their own waits
    pytest.mark.skipif(os.geteuid() != 0, reason="mkosi builds need root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="scripts/setup.d/60-images.sh installs qemu"),
]

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CAMERA = "Front door"
# Under TCG, the camera's first detection after "Add camera". It bounds a failure, not a figure: every
# inference there is minutes of software floating point (the detector's model is float32).
EVENT_TIMEOUT_S = int(os.environ.get("GUARDIAN_BOOT_EVENT_TIMEOUT", "5400"))
# The VMs' own bounds (seconds from boot, and for boot-test.sh as a whole) leave room for the boot before.
BOOT_ENV = {"GUARDIAN_BOOT_E2E_WAIT": str(EVENT_TIMEOUT_S + 1500), "GUARDIAN_BOOT_TIMEOUT": str(EVENT_TIMEOUT_S + 2400)}


def test_relay_and_edge_boot_enrol_and_an_event_crosses() -> None:
    """Without a cloud: the edge enrols on its own and one queued event crosses to the relay."""
    proc = subprocess.run([str(ROOT / "scripts" / "boot-test.sh"), "--build", "both"], capture_output=True, text=True)
    summary = json.loads((CACHE / "images" / "boot-test" / "summary.json").read_text())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for role in ("relay", "edge"):
        assert summary[role]["ok"], summary[role]
        assert summary[role]["failed"] == []
    assert summary["edge"]["units"]["guardian-edge-uplink.service"] == "active"
    assert any("acked=yes" in line for line in summary["edge"]["e2e"])
    assert any("received=yes" in line for line in summary["relay"]["e2e"])


# Not yet passing (issue #17's open item). The camera is added from the UI, applied on the edge and recorded, but
# under TCG the detector never finishes loading the factory model: its smoke inference is float32 work that TCG
# runs in software floating point (over 200 s of CPU for one 17 ms inference in qemu-user -cpu max; the SSE/AVX1
# code paths of this OpenVINO refuse the model). With the edge given 2 vCPUs and 90 min, the detector was still
# "loading the model" after 16 min and was then restarted by systemd (failed), so no event can follow.
# tests/images/e2e-edge.sh prints the detector's status and metrics once a minute in this mode. Opt-in until
# detection can run in the booted image within CI's time (KVM, or the nspawn boot of the same image).
@pytest.mark.timeout(EVENT_TIMEOUT_S + 3600)
@pytest.mark.skipif(os.environ.get("GUARDIAN_BOOT_CLOUD") != "1", reason="opt-in (GUARDIAN_BOOT_CLOUD=1): not yet passing")
def test_edge_image_gets_its_first_camera_from_the_ui(tmp_path: Path, footage_mp4: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with cloud_lab(tmp_path / "lab", footage_mp4) as lab:
        log_path = tmp_path / "boot-test.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen([str(ROOT / "scripts" / "boot-test.sh"), "--build", "--cloud", str(lab.dir), "both"],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **BOOT_ENV})
            try:
                figures = _first_camera_from_the_ui(lab, proc, log_path)
            except BaseException:
                proc.terminate()  # its EXIT trap stops the VMs
                raise
            finally:
                # The VMs power off by themselves once the edge's camera event is acked and forwarded.
                proc.wait(timeout=900)
        (ARTIFACTS / "boot-first-camera.json").write_text(json.dumps(figures, indent=2))
        print(f"boot -> device online {figures['boot_to_online_s']:.0f} s; "
              f"'Add camera' -> first event in the timeline {figures['add_camera_to_event_s']:.0f} s")
        # The camera login crossed cloud and relay sealed only: not in the cloud's database in the clear.
        for db in lab.dir.glob("cloud.db*"):
            assert CAMERA_PASSWORD.encode() not in db.read_bytes()
    output = log_path.read_text(errors="replace")
    summary = json.loads((CACHE / "images" / "boot-test" / "summary.json").read_text())
    assert proc.returncode == 0, output[-6000:]
    for role in ("relay", "edge"):
        assert summary[role]["ok"], summary[role]
        assert summary[role]["failed"] == []
    assert summary["edge"]["units"]["guardian-edge-uplink.service"] == "active"
    # The edge's first acknowledged event is from the camera added in the UI, and the relay forwarded it.
    assert any("acked=yes" in line and "camera=front-door" in line for line in summary["edge"]["e2e"]), summary["edge"]["e2e"]
    assert any("received=yes forwarded=yes" in line for line in summary["relay"]["e2e"]), summary["relay"]["e2e"]


def _first_camera_from_the_ui(lab: Lab, proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    device = _wait_online(lab, proc, log_path)
    online_at = time.time()
    boot_to_online = online_at - float((lab.dir / "edge.start").read_text())

    from playwright.sync_api import sync_playwright

    # Trust exactly the relay's test certificate (by its key), as a user who imported the CA would.
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pki.spki_sha256(lab.dir / 'relay.pem')}"]
    os.environ.setdefault("PW_TEST_SCREENSHOT_NO_FONTS_READY", "1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            tab = BrowserTab(browser, lab.cloud_url, ARTIFACTS, "boot-first-camera", 60_000)
            p = tab.page
            p.goto("/")
            p.get_by_role("heading", name="Sign in").wait_for()
            p.get_by_label("E-mail").fill(EMAIL)
            p.get_by_label("Password").fill(PASSWORD)
            p.get_by_role("button", name="Sign in").click()
            p.get_by_role("heading", name="Dashboard", level=1).wait_for()
            _nav(p, "Cameras")
            name = device["name"]
            p.get_by_role("heading", name=name, level=2).wait_for()
            p.get_by_role("button", name=f"Add a camera to {name}").click()
            p.get_by_label("Camera name").fill(CAMERA)
            # The camera as the edge sees it on its LAN (QEMU forwards 10.0.2.100:8554 to the host's camera);
            # the page splits the login off and seals it to the device's key.
            p.get_by_label("Stream address").fill(f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@10.0.2.100:8554/cam")
            p.get_by_label("Stream address").blur()
            p.get_by_label("Person").check()
            tab.shot("form")
            clicked = time.monotonic()
            p.get_by_role("button", name="Add camera", exact=True).click()
            p.get_by_text("Saved as version 1").wait_for()
            tab.shot("saved")
            _nav(p, "Events")
            event = p.locator(".event", has_text=CAMERA).first
            event.wait_for(timeout=EVENT_TIMEOUT_S * 1000)
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


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _wait_online(lab: Lab, proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    """The device once the cloud has its health (through the relay) and its key for camera logins. Bounded
    by boot-test.sh itself: its VMs power off when their end-to-end step gives up."""
    while proc.poll() is None:
        for device in lab.get("/api/v1/devices"):
            if device["last_seen_at"] and device["status"] in ("healthy", "degraded"):
                config = lab.get(f"/api/v1/devices/{device['id']}/config")
                if config.get("config_key"):
                    return dict(device)
        time.sleep(1)
    raise AssertionError("boot-test.sh ended before the device came online:\n" + log_path.read_text(errors="replace")[-6000:])
