"""The boot assessment's decisions (guardian-agents-healthy, which guardian-ROLE-healthy.service runs before
boot-complete.target): which agent states pass, and the edge's wait for a heartbeat the relay acknowledged.
The real uplink writing its stamp through a real relay is tests/relay/test_boot_assessment.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.images.agents_healthy import FakeUnits

UPLINK = "guardian-edge-uplink.service"
DETECTOR = "guardian-edge-detector.service"


@pytest.fixture
def units(tmp_path: Path) -> FakeUnits:
    units = FakeUnits.new(tmp_path / "units")
    units.set(DETECTOR, "active")
    units.set(UPLINK, "active")
    return units


def test_ready_agents_and_an_acknowledged_heartbeat_pass(units: FakeUnits, tmp_path: Path) -> None:
    stamp = tmp_path / "heartbeat"
    stamp.touch()
    result = units.assess("--heartbeat", f"{UPLINK}={stamp}", "--wait", "5", DETECTOR, UPLINK)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{UPLINK}: heartbeat acknowledged by the relay (after 0 s here)" in result.stdout


def test_a_heartbeat_that_comes_while_waiting_passes(units: FakeUnits, tmp_path: Path) -> None:
    stamp = tmp_path / "heartbeat"
    timer = threading.Timer(2.0, stamp.touch)
    timer.start()
    try:
        result = units.assess("--heartbeat", f"{UPLINK}={stamp}", "--wait", "30", DETECTOR, UPLINK)
    finally:
        timer.cancel()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "heartbeat acknowledged by the relay (after 0 s" not in result.stdout, result.stdout
    assert f"{UPLINK}: heartbeat acknowledged by the relay" in result.stdout


def test_ready_agents_without_a_heartbeat_fail_after_the_wait(units: FakeUnits, tmp_path: Path) -> None:
    result = units.assess("--heartbeat", f"{UPLINK}={tmp_path / 'never'}", "--wait", "2", DETECTOR, UPLINK)
    assert result.returncode == 1, result.stdout
    assert f"{DETECTOR}: ready" in result.stdout
    assert f"{UPLINK}: no heartbeat acknowledged by the relay within 2 s" in result.stdout


def test_an_uplink_not_enrolled_yet_is_not_assessed_and_no_heartbeat_is_awaited(units: FakeUnits, tmp_path: Path) -> None:
    units.set(UPLINK, "inactive", condition="no")  # ConditionPathExists= on the enrolment record
    result = units.assess("--heartbeat", f"{UPLINK}={tmp_path / 'never'}", "--wait", "60", DETECTOR, UPLINK,
                          timeout=30)
    assert result.returncode == 0, result.stdout
    assert f"{UPLINK}: not configured (condition), not assessed" in result.stdout
    assert f"{UPLINK}: no heartbeat expected (not running)" in result.stdout


@pytest.mark.parametrize("state", ["failed", "activating", "inactive"])
def test_an_agent_not_ready_fails_without_waiting_for_a_heartbeat(units: FakeUnits, tmp_path: Path, state: str) -> None:
    units.set(DETECTOR, state)
    result = units.assess("--heartbeat", f"{UPLINK}={tmp_path / 'never'}", "--wait", "60", DETECTOR, UPLINK,
                          timeout=30)
    assert result.returncode == 1, result.stdout
    assert f"{DETECTOR}: {state} (not ready)" in result.stdout
    assert "heartbeat" not in result.stdout


@pytest.mark.parametrize(("args", "error"), [
    (["--heartbeat"], "--heartbeat needs UNIT=FILE"),
    (["--heartbeat", UPLINK], "an absolute path"),
    (["--heartbeat", f"{UPLINK}=relative"], "an absolute path"),
    (["--wait", "soon"], "--wait needs a number of seconds"),
    (["--later", DETECTOR], "unknown option --later"),
])
def test_bad_options_are_refused_with_a_reason(units: FakeUnits, args: list[str], error: str) -> None:
    result = units.assess(*args)
    assert result.returncode == 2
    assert error in result.stderr
