"""Staged edge update through the relay (SSH jump host) against two booted edge targets.

"Heartbeats arriving" is checked the way production does it: a command on the relay that prints
``guardian-relay device list --json``. The lab edges are not enrolled (no WireGuard tunnel, no uplink
agent in the lab release), so the jump host gets a stand-in with that interface, ``lab-device-list``:
it reports ``last_seen`` = now for a device whose heartbeats the test has switched on
(``/run/lab-heartbeats/<device>`` contains ``on``), else the old timestamp written there. What is
tested is the rollout's side: it asks the relay, compares with the switch time, and reverts the canary
when no newer heartbeat comes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.provisioning.targets import PROVISIONING, REPO, Lab

pytestmark = pytest.mark.slow


LAB_DEVICE_LIST = r"""#!/usr/bin/python3
# Lab stand-in for `guardian-relay device list --json` (tests/provisioning/test_edge_update.py).
import json, os
from datetime import datetime, timezone
d = "/run/lab-heartbeats"
rows = []
for device in sorted(os.listdir(d)):
    state = open(os.path.join(d, device)).read().strip()
    seen = datetime.now(timezone.utc).isoformat() if state == "on" else state
    rows.append({"device_id": device, "label": device, "tunnel_address": None, "status": "online",
                 "reason": "", "last_seen": seen, "enrolled_at": "2025-01-01T00:00:00+00:00"})
print(json.dumps(rows, indent=2))
"""


def _heartbeats(lab: Lab, relay, device: str, on: bool) -> None:
    state = "on" if on else "2025-01-01T00:00:00+00:00"
    lab.ssh(relay, f"mkdir -p /run/lab-heartbeats && echo {state} > /run/lab-heartbeats/{device}")


def _rollout(lab: Lab, version: str, env: dict[str, str]) -> tuple[int, dict]:
    report = lab.workdir / f"report-{version}.json"
    proc = subprocess.run(["ip", "netns", "exec", lab.controller, sys.executable, "rollout.py", "inventories/lab.py",
                           "--version", version, "--report", str(report)],
                          cwd=PROVISIONING, env=env, capture_output=True, text=True, timeout=900)
    assert report.exists(), proc.stderr[-3000:]
    return proc.returncode, json.loads(report.read_text())


def test_good_release_rolls_out_broken_one_is_rolled_back_on_the_canary(
        lab: Lab, releases: Callable[..., Path], tmp_path: Path) -> None:
    good = releases("", version="0.1.1")
    broken_src = tmp_path / "broken-src"
    shutil.copytree(REPO, broken_src, ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "mkosi.*",
                                                                    "tests", "ui", "bench", "__pycache__"))
    with (broken_src / "agents/edge/cli.py").open("a") as cli:
        cli.write('\nraise RuntimeError("deliberately broken release")\n')
    broken = releases("", version="0.1.2", source=broken_src)
    good_again = releases("", version="0.1.3")
    assert good.parent == broken.parent == good_again.parent

    relay = lab.add("relay")
    edges = [lab.add("edge1", behind="relay"), lab.add("edge2", behind="relay")]
    for m in (relay, *edges):
        lab.wait_ssh(m)
    lab.write_inventory({
        "relays": [["relay", {}]],  # the jump host (not a deployed relay here): only asked for heartbeats
        "edges": [["edge1", {"edge_relay": "relay", "edge_device_id": "dev-edge1"}],
                  ["edge2", {"edge_relay": "relay", "edge_device_id": "dev-edge2"}]],
    })
    lab.ssh(relay, f"cat > /usr/local/bin/lab-device-list <<'EOF'\n{LAB_DEVICE_LIST}EOF\nchmod 755 /usr/local/bin/lab-device-list")
    for device in ("dev-edge1", "dev-edge2"):
        _heartbeats(lab, relay, device, on=True)
    # A unit that failed before the update (as a container's systemd-sysusers may) is not the release's
    # doing: it must not turn a good update into a rollback.
    lab.ssh(edges[0], "systemd-run --quiet --unit=lab-failed-before-update /bin/false; sleep 1; "
                      "systemctl is-failed --quiet lab-failed-before-update")
    import os
    env = {**os.environ, "GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(good.parent),
           "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_EDGE_EXTRA": "",
           "GUARDIAN_EDGE_HEALTH_UNITS": "guardian-edge-selftest.service", "GUARDIAN_EDGE_HEALTH_TIMEOUT": "30",
           "GUARDIAN_EDGE_HEARTBEAT_COMMAND": "/usr/local/bin/lab-device-list",
           "GUARDIAN_EDGE_HEARTBEAT_TIMEOUT": "10"}

    code, report = _rollout(lab, "0.1.1", env)
    assert code == 0, json.dumps(report, indent=1)
    assert [(d["device"], d["stage"], d["result"]) for d in report["devices"]] == [
        ("edge1", "canary", "updated"), ("edge2", "wave 1", "updated")]
    for edge in edges:
        assert lab.ssh(edge, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
        assert lab.ssh(edge, "systemctl is-active guardian-edge-selftest").stdout.strip() == "active"

    code, report = _rollout(lab, "0.1.2", env)
    assert code == 1
    by_device = {d["device"]: d for d in report["devices"]}
    assert by_device["edge1"]["result"] == "rolled-back"
    assert by_device["edge2"]["result"] == "skipped"
    edge1, edge2 = edges
    # The canary is back on the good release, healthy, with the broken one kept beside it.
    assert lab.ssh(edge1, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
    assert lab.ssh(edge1, "systemctl is-active guardian-edge-selftest").stdout.strip() == "active"
    assert lab.ssh(edge1, "test -f /opt/guardian/releases/0.1.2/.guardian-release", check=False).returncode == 0
    # The second edge was never touched: still 0.1.1, the broken release not even uploaded.
    assert lab.ssh(edge2, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
    assert lab.ssh(edge2, "ls /opt/guardian/releases /opt/guardian/dist").stdout.count("0.1.2") == 0

    # A release that starts fine locally, but the relay hears nothing from the canary afterwards: the
    # heartbeat check fails, the canary is reverted to 0.1.1, and edge2 is not touched.
    _heartbeats(lab, relay, "dev-edge1", on=False)
    code, report = _rollout(lab, "0.1.3", env)
    assert code == 1
    by_device = {d["device"]: d for d in report["devices"]}
    assert by_device["edge1"]["result"] == "rolled-back", json.dumps(report, indent=1)
    assert "no heartbeat from dev-edge1" in by_device["edge1"]["detail"]
    assert by_device["edge2"]["result"] == "skipped"
    assert lab.ssh(edge1, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
    assert lab.ssh(edge1, "systemctl is-active guardian-edge-selftest").stdout.strip() == "active"
    assert lab.ssh(edge2, "ls /opt/guardian/releases /opt/guardian/dist").stdout.count("0.1.3") == 0
