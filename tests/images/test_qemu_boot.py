"""The full boot test (scripts/boot-test.sh both) as a test: relay and personalised edge disk images
under QEMU (TCG), the edge enrols on its own and one event crosses to the relay.

Runs in CI: with warm mkosi caches the two disk builds take ~3 min and the two TCG boots with the
end-to-end step ~6 min on the 2-core CI machine. The faster nspawn check (test_nspawn_boot.py) stays for
what it covers on its own. One command outside pytest: scripts/boot-test.sh --build both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.images.bootcheck import CACHE, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mkosi builds need root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="scripts/setup.d/60-images.sh installs qemu"),
]


def test_relay_and_edge_boot_enrol_and_an_event_crosses() -> None:
    proc = subprocess.run([str(ROOT / "scripts" / "boot-test.sh"), "--build", "both"], capture_output=True, text=True)
    summary = json.loads((CACHE / "images" / "boot-test" / "summary.json").read_text())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for role in ("relay", "edge"):
        assert summary[role]["ok"], summary[role]
        assert summary[role]["failed"] == []
    assert summary["edge"]["units"]["guardian-edge-uplink.service"] == "active"
    assert any("acked=yes" in line for line in summary["edge"]["e2e"])
    assert any("received=yes" in line for line in summary["relay"]["e2e"])
