"""The edge image's boot assessment waits for a heartbeat the relay acknowledged (issue #19: a new version is
good only once the box reaches its relay): the real uplink, through a real relay over WireGuard in network
namespaces, writes the stamp that guardian-agents-healthy waits for; without a relay it does not, and the
assessment fails. The script runs on the host, its systemctl answered from files (tests/images/agents_healthy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.images.agents_healthy import FakeUnits
from tests.relay.netlab import wait_for

pytestmark = pytest.mark.slow

UPLINK = "guardian-edge-uplink.service"


def test_the_assessment_passes_once_the_relay_acknowledges_a_heartbeat_and_fails_without_the_relay(
        make_lab, tmp_path: Path) -> None:
    stamp = tmp_path / "run" / "heartbeat"
    stamp.parent.mkdir()
    lab = make_lab(edge_overrides={"uplink": {"heartbeat_stamp": str(stamp)}})
    lab.start_cloud()
    lab.start_relay()
    assert lab.enrol(lab.token()).returncode == 0
    units = FakeUnits.new(tmp_path / "units")
    units.set(UPLINK, "active")  # READY=1: the uplink is up, whether or not the relay answers
    check = ("--heartbeat", f"{UPLINK}={stamp}", "--wait", "3", UPLINK)

    lab.start_edge()
    wait_for(stamp.exists, 60, "the uplink's heartbeat stamp")
    passed = units.assess(*check)
    assert passed.returncode == 0, passed.stdout
    assert "heartbeat acknowledged by the relay" in passed.stdout

    # The relay is gone and the uplink starts again (a new version booting while its relay is down): the
    # stamp of the earlier process goes, no new one comes, and the assessment fails.
    lab.stop("relay")
    lab.stop("edge")
    lab.start_edge()
    wait_for(lambda: not stamp.exists(), 60, "the new uplink process to remove the old stamp")
    failed = units.assess(*check)
    assert failed.returncode == 1, failed.stdout
    assert f"{UPLINK}: no heartbeat acknowledged by the relay within 3 s" in failed.stdout
    assert not stamp.exists(), lab.log_tail("edge")

    # The relay back: the same uplink process reconnects, and the heartbeat is acknowledged.
    lab.start_relay()
    wait_for(stamp.exists, 90, "a heartbeat acknowledged after the relay came back")
    assert units.assess(*check).returncode == 0
