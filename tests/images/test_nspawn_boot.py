"""Fast image check for every CI run: boot the directory builds of both appliances in systemd-nspawn.

Real mkosi builds (incremental after the first) and a real systemd boot; the check inside the
container reports unit states, `systemctl --failed` and `systemd-analyze security`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.images.bootcheck import ROOT, BootReport, boot_nspawn, build_image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn and mkosi builds need root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="scripts/setup.d/60-images.sh installs systemd-container"),
]

# "OK" in systemd-analyze security is an exposure below 5.0 (SAFE < 2.0, PERFECT 0).
MAX_EXPOSURE = 4.9


def _edge_has_enrol() -> bool:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "guardian-edge"), "enrol", "--help"], capture_output=True
    )
    return proc.returncode == 0


@pytest.fixture(scope="module")
def edge_dir() -> Path:
    return build_image("edge", "directory")


@pytest.fixture(scope="module")
def relay_dir() -> Path:
    return build_image("relay", "directory")


@pytest.fixture(scope="module")
def edge_boot(edge_dir: Path) -> BootReport:
    return boot_nspawn(edge_dir)


def _assert_healthy(report: BootReport) -> None:
    assert report.finished, f"the boot check did not finish:\n{report.tail()}"
    assert report.failed == [], f"systemctl --failed is not empty: {report.failed}\n{report.tail()}"
    assert report.units, f"no agent units enabled in the image:\n{report.tail()}"
    inactive = {u: s for u, s in report.units.items() if s not in ("active", "skipped")}
    assert not inactive, f"agent units not active: {inactive}\n{report.tail()}"
    assert report.end_rc == 0, report.tail()


def test_edge_boots_with_every_agent_active_and_nothing_failed(edge_boot: BootReport) -> None:
    _assert_healthy(edge_boot)
    assert edge_boot.units["guardian-edge-recorder.service"] == "active"
    assert edge_boot.units["guardian-edge-detector.service"] == "active"
    # Not enrolled yet: the uplink waits for its enrolment record (condition), it does not fail.
    assert edge_boot.units["guardian-edge-uplink.service"] == "skipped"


def test_edge_agent_units_are_hardened_to_ok_or_better(edge_boot: BootReport) -> None:
    agents = [u for u in edge_boot.exposure if u != "guardian-firstboot.service"]
    assert agents, edge_boot.tail()
    too_exposed = {u: e for u, e in edge_boot.exposure.items() if e[0] > MAX_EXPOSURE}
    assert not too_exposed, f"systemd-analyze security above OK: {too_exposed}"


def test_edge_without_enrolment_config_says_so_and_keeps_retrying(edge_boot: BootReport) -> None:
    # Retrying (auto-restart), never "failed": the boot stays clean while the status is clear.
    assert edge_boot.firstboot == "activating", edge_boot.tail()
    assert "no enrolment config" in edge_boot.firstboot_status
    assert "no enrolment config" in edge_boot.console  # on the console too


def test_edge_bad_enrolment_credential_is_reported(edge_dir: Path) -> None:
    report = boot_nspawn(edge_dir, credentials={"guardian.enrol": "GUARDIAN_RELAY_ENDPOINT=10.0.0.1:51821\n"})
    _assert_healthy(report)
    assert report.firstboot == "activating"
    assert "GUARDIAN_BOOTSTRAP_TOKEN is missing" in report.firstboot_status


def test_edge_enrolment_settings_from_the_kernel_command_line(edge_dir: Path) -> None:
    report = boot_nspawn(edge_dir, kernel_args=["guardian.relay=192.0.2.1:51821", "guardian.token=t0ken"])
    _assert_healthy(report)
    # No relay answers at a TEST-NET address: the unit keeps retrying, and says which step failed.
    assert report.firstboot == "activating"
    if _edge_has_enrol():
        assert "enrolment with relay 192.0.2.1:51821 failed" in report.firstboot_status
    else:
        assert "no 'enrol' command" in report.firstboot_status
    assert "t0ken" not in report.console, "the bootstrap token must not reach the console or journal"


def test_edge_never_repeats_enrolment_once_done(edge_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "enrolled"
        marker.write_text("2025-06-01T00:00:00Z\n")
        report = boot_nspawn(
            edge_dir,
            bind_ro=[(marker, "/var/lib/guardian-enrol/enrolled")],
            kernel_args=["guardian.relay=192.0.2.1:51821", "guardian.token=t0ken"],
        )
    _assert_healthy(report)
    assert report.firstboot == "inactive", report.tail()  # condition not met: not even started
    assert "enrolling" not in report.console


def test_relay_boots_clean(relay_dir: Path) -> None:
    report = boot_nspawn(relay_dir)
    assert report.finished, report.tail()
    assert report.failed == [], f"systemctl --failed is not empty: {report.failed}\n{report.tail()}"
    # Without an operator's /etc/guardian/relay.toml the relay agent is skipped, not failed.
    assert report.units.get("guardian-relay.service") in ("active", "skipped"), report.tail()
    too_exposed = {u: e for u, e in report.exposure.items() if e[0] > MAX_EXPOSURE}
    assert not too_exposed, f"systemd-analyze security above OK: {too_exposed}"
