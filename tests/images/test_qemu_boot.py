"""The full boot test under QEMU (TCG): relay and personalised edge disk images.

CI's QEMU boot is tests/images/test_signup_to_online.py (the image downloaded in the browser boots, enrols and comes
online). Without a cloud, one command outside pytest: scripts/boot-test.sh --build both.

test_edge_image_gets_its_first_camera_from_the_ui (opt-in, GUARDIAN_BOOT_CLOUD=1; not yet passing): the same boot
(scripts/boot-test.sh --cloud DIR) with a real cloud and the RTSP test camera on the host (tests/images/cloudlab.py);
Chromium signs in to the UI, adds the camera (its login sealed in the browser to the edge's key) and waits for that
camera's first event in the timeline: issue #17's "Done when". Figures and screenshots go to test-artifacts/e2e/.
Under TCG the detector cannot detect within CI's time; CI runs that chain with the images booted in nspawn
(test_nspawn_cloud.py). The faster nspawn check (test_nspawn_boot.py) stays for what it covers on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.images.bootcheck import ROOT, boot_test_summary
from tests.images.cloudlab import cloud_lab
from tests.images.firstcamera import ARTIFACTS, camera_login_absent_from_the_cloud, first_camera_from_the_ui

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),  # disk builds and TCG boots: the scripts bound their own waits
    pytest.mark.skipif(os.geteuid() != 0, reason="mkosi builds need root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="scripts/setup.d/60-images.sh installs qemu"),
]

# Under TCG, the camera's first detection after "Add camera". It bounds a failure, not a figure: every
# inference there is minutes of software floating point (the detector's model is float32).
EVENT_TIMEOUT_S = int(os.environ.get("GUARDIAN_BOOT_EVENT_TIMEOUT", "5400"))
# The VMs' own bounds (seconds from boot, and for boot-test.sh as a whole) leave room for the boot before.
BOOT_ENV = {"GUARDIAN_BOOT_E2E_WAIT": str(EVENT_TIMEOUT_S + 1500), "GUARDIAN_BOOT_TIMEOUT": str(EVENT_TIMEOUT_S + 2400)}


# Not yet passing (issue #17's open item). The camera is added from the UI, applied on the edge and recorded, but
# under TCG the detector never finishes loading the factory model: its smoke inference is float32 work that TCG
# runs in software floating point (over 200 s of CPU for one 17 ms inference in qemu-user -cpu max; the SSE/AVX1
# code paths of this OpenVINO refuse the model). With the edge given 2 vCPUs and 90 min, the detector was still
# "loading the model" after 16 min and was then restarted by systemd (failed), so no event can follow.
# tests/images/e2e-edge.sh prints the detector's status and metrics once a minute in this mode. Opt-in: the
# same chain with detection runs in CI booted in nspawn (tests/images/test_nspawn_cloud.py).
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
                # The camera as the edge sees it on its LAN: QEMU forwards 10.0.2.100:8554 to the host's camera.
                figures = first_camera_from_the_ui(
                    lab, camera_at="10.0.2.100:8554", event_timeout_s=EVENT_TIMEOUT_S, alive=lambda: proc.poll() is None,
                    why_not=lambda: log_path.read_text(errors="replace")[-6000:], name="boot-first-camera")
            except BaseException:
                proc.terminate()  # its EXIT trap stops the VMs
                raise
            finally:
                # The VMs power off by themselves once the edge's camera event is acked and forwarded.
                proc.wait(timeout=900)
        (ARTIFACTS / "boot-first-camera.json").write_text(json.dumps(figures, indent=2))
        print(f"boot -> device online {figures['boot_to_online_s']:.0f} s; "
              f"'Add camera' -> first event in the timeline {figures['add_camera_to_event_s']:.0f} s")
        camera_login_absent_from_the_cloud(lab)
    summary = boot_test_summary(proc.returncode, log_path)
    # The edge's first acknowledged event is from the camera added in the UI, and the relay forwarded it.
    assert any("acked=yes" in line and "camera=front-door" in line for line in summary["edge"]["e2e"]), summary["edge"]["e2e"]
    assert any("received=yes forwarded=yes" in line for line in summary["relay"]["e2e"]), summary["relay"]["e2e"]
