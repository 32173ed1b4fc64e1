"""Staged edge update through the relay (SSH jump host) against two booted edge targets."""

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


def _rollout(lab: Lab, version: str, env: dict[str, str]) -> tuple[int, dict]:
    report = lab.workdir / f"report-{version}.json"
    proc = subprocess.run(["ip", "netns", "exec", lab.controller, sys.executable, "rollout.py", "inventories/lab.py",
                           "--version", version, "--batch-size", "1", "--report", str(report)],
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
    assert good.parent == broken.parent

    relay = lab.add("relay")
    edges = [lab.add("edge1", behind="relay"), lab.add("edge2", behind="relay")]
    for m in (relay, *edges):
        lab.wait_ssh(m)
    lab.write_inventory({"edges": [["edge1", {"edge_relay": "relay"}], ["edge2", {"edge_relay": "relay"}]]})
    import os
    env = {**os.environ, "GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(good.parent),
           "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_EDGE_EXTRA": "",
           "GUARDIAN_EDGE_HEALTH_UNITS": "guardian-edge-selftest.service", "GUARDIAN_EDGE_HEALTH_TIMEOUT": "30"}

    code, report = _rollout(lab, "0.1.1", env)
    assert code == 0, json.dumps(report, indent=1)
    assert [(d["device"], d["stage"], d["result"]) for d in report["devices"]] == [
        ("edge1", "canary", "updated"), ("edge2", "batch 1", "updated")]
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
