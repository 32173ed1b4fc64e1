"""The rollout's stage plan (provisioning/fleet/plan.py), the outcome an edge gets from what pyinfra
recorded (fleet/wave.py) and what an image update reads from the box after its reboot
(tasks/image_update.py): pure functions, no targets."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from paramiko import SSHException

from tests.provisioning.targets import PROVISIONING

sys.path.append(str(PROVISIONING))  # provisioning/ is pyinfra's working directory, not a package

import tasks.image_update as image_update
from fleet.events import _Recorder
from fleet.inventory import edges_of
from fleet.plan import Edge, plan, spread_relays, too_many_failed
from fleet.wave import outcome, pyinfra_command
from tasks.image_update import parse_probe, rolled_back, verdict


def fleet(count: int, relays: int) -> list[Edge]:
    """Grouped by relay, as an inventory lists them: relay 0's edges first, then relay 1's, …"""
    per = -(-count // relays)
    return [Edge(f"edge-{i}", f"relay-{i // per}") for i in range(count)]


def test_a_thousand_edges_canary_of_five_percent_then_quarter_waves_each_covering_every_relay() -> None:
    edges = fleet(1000, 10)
    stages = plan(edges)
    assert [(s.name, len(s.edges)) for s in stages] == [
        ("canary", 50), ("wave 1", 250), ("wave 2", 250), ("wave 3", 250), ("wave 4", 200)]
    assert sorted(e.name for s in stages for e in s.edges) == sorted(e.name for e in edges)
    assert Counter(e.relay for e in stages[0].edges) == {f"relay-{r}": 5 for r in range(10)}
    for stage in stages:
        assert {e.relay for e in stage.edges} == {f"relay-{r}" for r in range(10)}
    assert stages[0].fail_percent == 0


def test_small_fleets_get_a_canary_of_one_and_at_least_one_edge_per_wave() -> None:
    assert plan([]) == []
    assert [len(s.edges) for s in plan(fleet(1, 1))] == [1]
    assert [len(s.edges) for s in plan(fleet(2, 1))] == [1, 1]
    assert [len(s.edges) for s in plan(fleet(10, 2))] == [1, 3, 3, 3]
    assert [len(s.edges) for s in plan(fleet(3, 1), wave_percent=50)] == [1, 2]


def test_a_resumed_rollout_keeps_the_wave_size_of_the_whole_fleet_and_may_skip_the_canary() -> None:
    edges = fleet(1000, 10)
    left = edges[:300]
    stages = plan(left, fleet_size=1000, canary_needed=False, fail_percent=5)
    assert [(s.name, len(s.edges), s.fail_percent) for s in stages] == [("wave 1", 250, 5), ("wave 2", 50, 5)]


def test_spread_keeps_each_relays_order() -> None:
    edges = [Edge("a1", "A"), Edge("a2", "A"), Edge("a3", "A"), Edge("b1", "B"), Edge("c1", "C"), Edge("c2", "C")]
    assert [e.name for e in spread_relays(edges)] == ["a1", "b1", "c1", "a2", "c2", "a3"]


def test_the_threshold_is_pyinfras_more_than_percent_rule() -> None:
    assert too_many_failed(1, 250, 0)
    assert not too_many_failed(0, 250, 0)
    assert not too_many_failed(25, 250, 10) and too_many_failed(26, 250, 10)


SWITCH = "Release 0.2.0 active and healthy (else rolled back)"


def test_outcomes_from_what_pyinfra_recorded() -> None:
    def of(events: list[dict], stderr: str = "") -> tuple[str, str]:
        result = outcome("e1", [{"host": "e1", **e} for e in events], stderr, dry=False)
        return result.result, result.detail

    connected: dict[str, Any] = {"event": "connected"}
    assert of([{"event": "unreachable", "detail": "Could not connect (No route to host)"}]) == (
        "unreachable", "Could not connect (No route to host)")
    assert of([connected, {"event": "planned", "ops": ["Release installed"]},
               {"event": "op", "op": "Release installed", "ok": True}])[0] == "unchanged"
    assert of([connected, {"event": "planned", "ops": ["Release installed", SWITCH]},
               {"event": "op", "op": "Release installed", "ok": True},
               {"event": "op", "op": SWITCH, "ok": True}])[0] == "updated"
    failed_switch = [connected, {"event": "planned", "ops": [SWITCH]}, {"event": "op", "op": SWITCH, "ok": False}]
    assert of(failed_switch, "[e1] Success\n[e1] health check failed for 0.2.0\n[e10] other\n[e1] rolled back to 0.1.0\n") == (
        "rolled-back", f"{SWITCH}: health check failed for 0.2.0; rolled back to 0.1.0")
    assert of(failed_switch, "[e1] rolled back to 0.1.0, still unhealthy\n")[0] == "failed"
    heartbeat = "Heartbeats from dev-1 reach relay-1 after the switch (else rolled back)"
    failed_heartbeat = [connected, {"event": "planned", "ops": [SWITCH, heartbeat]},
                        {"event": "op", "op": SWITCH, "ok": True}, {"event": "op", "op": heartbeat, "ok": False}]
    no_heartbeat = "[e1] Unexpected error in Python callback: DeployError('e1: no heartbeat from dev-1 (…); {}',)"
    assert of(failed_heartbeat, no_heartbeat.format("reverted"))[0] == "rolled-back"
    assert of(failed_heartbeat, no_heartbeat.format("revert FAILED (…)"))[0] == "failed"
    # Switched, then pyinfra stopped the wave (other edges failed) before the heartbeat check: said so.
    assert of(failed_heartbeat[:-1]) == ("updated", f"not checked, the wave stopped first: {heartbeat}")
    assert of([connected, {"event": "planned", "ops": ["Release installed", SWITCH]},
               {"event": "op", "op": "Release installed", "ok": False}], "[e1] rolled back to x")[0] == "failed"
    # pyinfra stopped the wave (its threshold) before this edge's switch, or before running anything.
    assert of([connected, {"event": "planned", "ops": ["Release installed", SWITCH]},
               {"event": "op", "op": "Release installed", "ok": True}])[0] == "skipped"
    assert of([connected])[0] == "skipped"
    assert of([])[0] == "skipped"


IMAGE_SWITCH = "Image 0.2.0 booted, healthy and marked good (else rolled back)"
IMAGE_INSTALL = "Image 0.2.0 downloaded, verified and installed beside 0.1.0 (systemd-sysupdate)"


def test_image_updates_read_the_boot_assessment() -> None:
    """tasks/image_update.py: what a probe after the reboot means, and how the rollout reports it."""
    probe = parse_probe(["id=guardian-relay", "version=0.2.0", "boot_id=b2", "blessed=good", "system=running",
                         "ukis=guardian-relay_0.1.0_x86-64.efi guardian-relay_0.2.0_x86-64.efi "])
    assert probe["version"] == "0.2.0" and probe["ukis"].split() == [
        "guardian-relay_0.1.0_x86-64.efi", "guardian-relay_0.2.0_x86-64.efi"]
    assert verdict(probe, "0.2.0", "0.1.0") == "good"
    # Still booting, or the new version on trial and not yet (or never) marked good: no verdict; its
    # health check reboots it, systemd-boot counts the try.
    assert verdict({**probe, "system": "starting"}, "0.2.0", "0.1.0") is None
    assert verdict({**probe, "blessed": "indeterminate", "system": "degraded"}, "0.2.0", "0.1.0") is None
    assert verdict({**probe, "blessed": "bad"}, "0.2.0", "0.1.0") is None
    # Back on the version it ran before: systemd-boot gave up on the new one.
    assert verdict({**probe, "version": "0.1.0", "blessed": "clean"}, "0.2.0", "0.1.0") == "rolled-back"
    assert verdict({**probe, "version": "0.1.0", "system": "starting"}, "0.2.0", "0.1.0") is None

    def of(ok: bool, stderr: str) -> tuple[str, str]:
        events: list[dict[str, Any]] = [{"host": "r1", "event": "connected"}, {"host": "r1", "event": "planned", "ops": [IMAGE_INSTALL, IMAGE_SWITCH]},
                  {"host": "r1", "event": "op", "op": IMAGE_INSTALL, "ok": True},
                  {"host": "r1", "event": "op", "op": IMAGE_SWITCH, "ok": ok}]
        result = outcome("r1", events, stderr, dry=False)
        return result.result, result.detail

    assert of(True, "[r1] image 0.2.0 installed in 41.0 s\n[r1] image 0.2.0 healthy and marked good 230 s after the reboot\n") == (
        "updated", "image 0.2.0 installed in 41.0 s; image 0.2.0 healthy and marked good 230 s after the reboot")
    message = rolled_back("r1", "0.2.0", "0.1.0", 840, 4, "guardian-relay_0.1.0_x86-64.efi guardian-relay_0.2.0_x86-64+0-3.efi")
    rolled = f"[r1] Unexpected error in Python callback: DeployError({message!r})\n"
    assert of(False, rolled) == ("rolled-back", f"{IMAGE_SWITCH}: {message}")  # the task's words, not pyinfra's repr
    assert of(False, "[r1] Unexpected error in Python callback: DeployError('r1: no verdict on image 0.2.0 within 1200 s')\n") == (
        "failed", f"{IMAGE_SWITCH}: r1: no verdict on image 0.2.0 within 1200 s")
    # Anything else pyinfra says stays as it said it.
    assert of(False, "[r1] Unexpected error in Python callback: OSError(5, 'Input/output error')\n")[1].endswith(
        "OSError(5, 'Input/output error')")


def test_relays_are_a_rollout_group_of_their_own(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text("relays = ['relay-a', ('relay-b', {'ssh_port': 2222})]\n"
                         "edges = [('e1', {'edge_relay': 'relay-a'}), 'e2']\n")
    assert edges_of(str(inventory), "relays") == [Edge("relay-a", "relay-a"), Edge("relay-b", "relay-b")]
    assert edges_of(str(inventory)) == [Edge("e1", "relay-a"), Edge("e2", "")]
    stage = plan(edges_of(str(inventory), "relays"))[0]
    assert "deploy_image_update.py" in pyinfra_command(str(inventory), stage, "0.2.0", parallel=None, dry=False,
                                                       extra=[], group="relays")
    assert "deploy_edge_update.py" in pyinfra_command(str(inventory), stage, "0.2.0", parallel=None, dry=False, extra=[])


def test_a_failed_reconnect_during_a_reboot_is_not_unreachable(tmp_path: Path) -> None:
    """An image update reconnects while the box reboots (tasks/image_update.py); pyinfra reports each failed
    try as a connect error. Only a host that never connected is unreachable."""
    path = tmp_path / "events.jsonl"
    recorder = _Recorder(str(path))
    box, ghost = SimpleNamespace(name="box"), SimpleNamespace(name="ghost")
    recorder.host_connect(None, box)
    recorder.host_connect_error(None, box, "Error reading SSH protocol banner")
    recorder.host_connect_error(None, ghost, "No route to host")
    recorder.out.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["event"], e["host"]) for e in events] == [
        ("connected", "box"), ("reconnect_error", "box"), ("unreachable", "ghost")]
    assert outcome("box", events, "", dry=False).result != "unreachable"
    assert outcome("ghost", events, "", dry=False).result == "unreachable"


def test_a_box_that_drops_the_connection_mid_probe_is_still_rebooting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rollback run once failed with EOFError: paramiko raised while v3's health check rebooted the box
    under the probe. A dropped connection means "not reachable yet" (probe again), not a failed update."""
    class Box:
        def __init__(self, error: BaseException) -> None:
            self.connected, self.error, self.disconnects = True, error, 0

        def run_shell_command(self, command: str) -> Any:
            raise self.error

        def disconnect(self) -> None:
            self.connected, self.disconnects = False, self.disconnects + 1

    for error in (EOFError(), SSHException("Channel closed."), ConnectionResetError()):
        box = Box(error)
        monkeypatch.setattr(image_update, "host", box)
        assert image_update._probe() is None
        assert box.disconnects == 1 and not box.connected
    monkeypatch.setattr(image_update, "host", Box(ValueError("a bug, not a reboot")))
    with pytest.raises(ValueError):
        image_update._probe()
