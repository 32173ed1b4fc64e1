"""Issue #17's "Done when" at native speed: the relay and edge images booted in systemd-nspawn next to a real
cloud and the RTSP test camera (tests/images/nspawnlab.py). The edge enrols on its own through the relay;
Chromium signs in, adds the camera from the UI (its login sealed in the browser to the edge's key), and the
camera's first detection appears in the timeline, having crossed edge -> WireGuard -> relay -> cloud. Then
(issue #19) the edge fetches an update with its own systemd-sysupdate through the relay's update mirror, which
caches it from a release origin on the host: the edge has no route to the origin but its tunnel.

The QEMU boot of the disk images (tests/images/test_qemu_boot.py) proves the same up to recording; under TCG
it cannot detect within CI's time (software floating point), which is what this boot is for. Figures and
screenshots go to test-artifacts/e2e/nspawn-first-camera*.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.images.bootcheck import build_image
from tests.images.cloudlab import cloud_lab
from tests.images.firstcamera import ARTIFACTS, camera_login_absent_from_the_cloud, first_camera_from_the_ui
from tests.images.nspawnlab import HOST, RELAY, boot_relay_and_edge, lan_bridge
from tests.relay.release_files import Origin, ReleaseKey, publish, version_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # image builds (incremental) and the boot; the containers bound their own waits
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn and mkosi builds need root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="scripts/setup.d/60-images.sh installs systemd-container"),
]

# Bounds a failure, not a figure: from "Add camera" to the first event in the timeline.
EVENT_TIMEOUT_S = 600


def test_booted_edge_gets_its_first_camera_from_the_ui_and_its_events_reach_the_timeline(
        tmp_path: Path, footage_mp4: Path) -> None:
    relay_dir, edge_dir = build_image("relay"), build_image("edge")
    update = os.urandom(2_000_000)
    update_name = version_file("guardian-edge", "99.0.0")
    key = ReleaseKey(tmp_path / "release-key")
    publish(tmp_path / "releases", "guardian-edge", key, {update_name: update})
    key.close()
    origin = Origin(tmp_path / "releases", "guardian-edge", address=HOST)  # the host, as the relay reaches it
    with lan_bridge() as bridge, cloud_lab(tmp_path / "lab", footage_mp4, host=HOST, relay_lan=RELAY,
                                           relay_media_url=f"https://{RELAY}:8443") as lab, origin:
        # The containers' end-to-end steps wait from boot: enrolment, then the camera's first event.
        with boot_relay_and_edge(lab.dir, relay_dir, edge_dir, bridge, wait_s=EVENT_TIMEOUT_S + 300,
                                 updates_origin=origin.url) as (relay, edge):
            figures = first_camera_from_the_ui(
                lab, camera_at=f"{HOST}:{lab.camera.port}", event_timeout_s=EVENT_TIMEOUT_S,
                alive=lambda: relay.alive() and edge.alive(), why_not=lambda: edge.tail() + "\n" + relay.tail(),
                name="nspawn-first-camera")
        (ARTIFACTS / "nspawn-first-camera.json").write_text(json.dumps(figures, indent=2))
        print(f"boot -> device online {figures['boot_to_online_s']:.1f} s; "
              f"'Add camera' -> first event in the timeline {figures['add_camera_to_event_s']:.1f} s")
        camera_login_absent_from_the_cloud(lab)
    edge_report, relay_report = edge.report(), relay.report()
    for container, report in ((edge, edge_report), (relay, relay_report)):
        assert report.finished and report.end_rc == 0, container.tail()
        assert report.failed == [], container.tail()
    assert edge_report.units["guardian-edge-uplink.service"] == "active", edge.tail()
    assert edge_report.units["guardian-edge-detector.service"] == "active", edge.tail()
    # The edge's first acknowledged event is from the camera added in the UI, and the relay forwarded it.
    assert any("acked=yes" in line and "camera=front-door" in line for line in edge_report.e2e), edge_report.e2e
    assert any("received=yes forwarded=yes" in line for line in relay_report.e2e), relay_report.e2e
    # Issue #19: the image's boot assessment, run again once enrolled, passes on a heartbeat the relay acknowledged.
    assert any("assessment=active" in line and "heartbeat_acknowledged_by_the_relay" in line
               for line in edge_report.e2e), edge_report.e2e
    # The edge image's journal-upload reached the relay image's journal-remote on the tunnel address, on the
    # relay's first boot (its relay.toml came after the generators, as a credential).
    assert any("journal=yes" in line and "listen=10.77.0.1:19532" in line for line in relay_report.e2e), relay_report.e2e
    # Issue #19: the edge's systemd-sysupdate fetched the update from the relay's mirror on its tunnel address
    # (guardian-updates named it there), which fetched it from the origin once and stored it.
    update_line = next((line for line in edge_report.e2e if line.startswith("update ")), "")
    assert "rc=0" in update_line and "source=10.77.0.1_guardian-updates" in update_line, edge.tail()
    assert f"sha256={hashlib.sha256(update).hexdigest()}" in update_line and "probe_99.0.0.efi" in update_line
    assert any(line.startswith("updates stored=1 listen=10.77.0.1:8480,") for line in relay_report.e2e), relay_report.e2e
    assert origin.asked(update_name) == 1, origin.paths
