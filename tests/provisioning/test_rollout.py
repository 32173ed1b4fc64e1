"""provisioning/rollout.py against booted targets: an edge nothing answers for is reported unreachable (never
"unchanged") with a non-zero exit, pyinfra's failure threshold stops a wave, and a resumed rollout leaves the
edges it already updated alone. The edges hang off a relay (the SSH jump host), like in the field; the
heartbeat check is off here (test_edge_update.py covers it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.provisioning.targets import PROVISIONING, Lab

pytestmark = pytest.mark.slow


def _rollout(lab: Lab, env: dict[str, str], *args: str) -> tuple[int, dict]:
    proc = subprocess.run(["ip", "netns", "exec", lab.controller, sys.executable, "rollout.py", "inventories/lab.py",
                           *args], cwd=PROVISIONING, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert report, f"no report ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc.returncode, report


def _results(report: dict) -> dict[str, tuple[str, str]]:
    return {d["device"]: (d["stage"], d["result"]) for d in report["devices"]}


def test_unreachable_edge_stops_the_wave_and_a_resumed_rollout_leaves_updated_edges_alone(
        lab: Lab, releases: Callable[..., Path]) -> None:
    release = releases("", version="0.1.1")
    relay = lab.add("relay")
    edge1, edge2 = lab.add("edge1", behind="relay"), lab.add("edge2", behind="relay")
    lab.add_unreachable("ghost", behind="relay")  # in the inventory, but nothing answers at its address
    for machine in (relay, edge1, edge2):
        lab.wait_ssh(machine)
    edges: list[list[object]] = [["edge1", {"edge_relay": "relay"}], ["edge2", {"edge_relay": "relay"}], ["ghost", {"edge_relay": "relay"}]]
    lab.write_inventory({"relays": [["relay", {}]], "edges": edges})
    env = {**os.environ, "GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(release.parent),
           "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_EDGE_EXTRA": "",
           "GUARDIAN_EDGE_HEALTH_UNITS": "guardian-edge-selftest.service", "GUARDIAN_EDGE_HEALTH_TIMEOUT": "30",
           "GUARDIAN_EDGE_HEARTBEAT_TIMEOUT": "0"}
    state = lab.workdir / "rollout.json"

    # --dry: every stage's plan is read (pyinfra connects), nothing changes; the dead edge already shows.
    code, report = _rollout(lab, env, "--version", "0.1.1", "--wave", "50", "--dry")
    assert code == 1
    assert _results(report) == {"edge1": ("canary", "planned"), "edge2": ("wave 1", "planned"),
                                "ghost": ("wave 1", "unreachable")}
    assert lab.ssh(edge1, "ls /opt/guardian", check=False).stdout.strip() == ""

    # Canary (edge1), then one wave of the other two, in one pyinfra run. The ghost fails to connect: with
    # no failure allowed, pyinfra stops the wave before it changes anything on edge2.
    code, report = _rollout(lab, env, "--version", "0.1.1", "--wave", "50", "--report", str(state))
    assert code == 1
    assert _results(report) == {"edge1": ("canary", "updated"), "edge2": ("wave 1", "skipped"),
                                "ghost": ("wave 1", "unreachable")}
    assert report["status"] == "stopped"
    assert json.loads(state.read_text()) == report
    assert "Connect failed" in report["devices"][2]["detail"]  # the relay could not reach it
    assert lab.ssh(edge1, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
    assert lab.ssh(edge2, "readlink /opt/guardian/current", check=False).stdout.strip() == ""

    # Resume, allowing half of a wave to fail. edge1, already updated, must not be touched: its sshd is
    # stopped, so the rollout would find it unreachable if it tried.
    lab.ssh(edge1, "systemctl stop ssh.service")
    code, report = _rollout(lab, env, "--resume", str(state), "--fail-percent", "50")
    assert code == 1  # the ghost is still unreachable: never "unchanged", never exit 0
    assert _results(report) == {"edge1": ("canary", "updated"), "edge2": ("wave 1", "updated"),
                                "ghost": ("wave 1", "unreachable")}
    assert report["status"] == "finished"
    assert lab.ssh(edge2, "readlink /opt/guardian/current").stdout.strip() == "releases/0.1.1"
    assert lab.ssh(edge2, "systemctl is-active guardian-edge-selftest").stdout.strip() == "active"

    # The dead edge taken out of the inventory: the resumed rollout has nothing left to do and succeeds.
    lab.write_inventory({"relays": [["relay", {}]], "edges": edges[:2]})
    code, report = _rollout(lab, env, "--resume", str(state))
    assert code == 0
    assert _results(report) == {"edge1": ("canary", "updated"), "edge2": ("wave 1", "updated")}


def test_image_rollout_of_the_running_version_is_unchanged_and_a_debian_host_is_refused(lab: Lab) -> None:
    """rollout.py --group relays (tasks/image_update.py) reads IMAGE_VERSION from the box: the version it
    already runs is "unchanged" with exit 0 (the A/B test's second rollout once came back "skipped": a host with
    no operation was never recorded as planned); a host that is not one of our images is refused, untouched."""
    image, debian = lab.add("image"), lab.add("debian")
    for machine in (image, debian):
        lab.wait_ssh(machine)
    # The target's root is a throw-away overlay: it says it runs relay image 0.2.0.
    lab.ssh(image, "printf 'IMAGE_ID=guardian-relay\\nIMAGE_VERSION=0.2.0\\n' >> /usr/lib/os-release")
    env = {**os.environ, "GUARDIAN_LAB": str(lab.workdir / "lab.json")}

    lab.write_inventory({"relays": [["image", {}]]})
    code, report = _rollout(lab, env, "--group", "relays", "--version", "0.2.0")
    assert (code, _results(report)) == (0, {"image": ("canary", "unchanged")}), report

    lab.write_inventory({"relays": [["debian", {}]]})
    code, report = _rollout(lab, env, "--group", "relays", "--version", "0.2.0")
    assert (code, _results(report)) == (1, {"debian": ("canary", "failed")}), report
    assert "not a Guardian appliance image" in report["devices"][0]["detail"], report
