"""Fleet rollout time: the measured cost of one parallel update wave against real targets, times the
rollout's stage plan for a large fleet.

    sudo .venv/bin/python bench/rollout_plan.py [--edges 5] [--fleet 1000] [--relays 10] [--canary 5] [--wave 25]
                                                [--uplink-mbps 1000] [--release-mb MB]

Targets: the provisioning tests' lab (tests/provisioning/targets.py: Debian bookworm in systemd-nspawn, edges
reached only through their relay as SSH jump host), the core release (provisioning/release.py). Measured, in
the same run: provisioning/rollout.py updating ONE edge (the baseline), then ``--edges - 1`` other edges in
ONE stage (``--canary 100``: a single parallel pyinfra run), with the CPU time it took on this machine.
The plan (fleet/plan.py) for ``--fleet`` edges over ``--relays`` relays gives the stage sizes; the projected
rollout time is the sum over its stages of t(stage size) + one heartbeat interval (the heartbeat check is
off in the lab, whose edges are not enrolled; in the field a stage waits for a heartbeat after the switch,
``heartbeat_interval_s``, 10 s by default). Two models of t(n), both printed:

- lab: the straight line through the two measured points. All lab edges share this machine's cores, so the
  slope is mostly edges waiting for each other's CPU (pip installing the release): pessimistic.
- field: each edge installs on its own CPU, in parallel, so a stage takes the one-edge time plus, per
  further edge, what the operator's machine does serially: pyinfra's CPU (one thread for every host's
  greenlet; measured here) or uploading the release (``--release-mb`` at ``--uplink-mbps``), whichever is
  larger.

Image updates (flashed edges, ``guardian_install = "image"``): the edge's A/B test
(tests/images/test_edge_ab_update.py; the relay VM's, tests/images/test_ab_update.py, when the edge's has not
run) measures one box's whole rollout under QEMU TCG (install through the relay's mirror, reboot, marked good)
and writes it to its figures file (``--image-figures``). A stage then takes that one-box time plus, per further
edge, the larger of the operator machine's pyinfra CPU (measured above; an image update runs two operations
to a release's many, so this over-counts) and what the busiest relay serves its edges after the first
(the update's bytes at ``--relay-mbps``: the mirror fetches each file from the origin once per relay). Skipped
when the file is missing.

Assumed, not measured: each relay's sshd accepts a whole wave's ProxyJump connections at once (see
provisioning/README.md, "At scale"). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file: the lab lives in tests/
sys.path.append(str(ROOT / "provisioning"))  # fleet/ (provisioning/ is pyinfra's directory, not a package)

from fleet.plan import Edge, plan  # noqa: E402

from tests.provisioning.targets import PROVISIONING, Lab, build_tree  # noqa: E402

IMAGES = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian")) / "images"
# One box's measured image rollout: a flashed edge through its relay, else (not run yet) the relay VM's.
IMAGE_FIGURES = next((p for p in (IMAGES / "edge-ab-update/figures.json", IMAGES / "ab-update/figures.json")
                      if p.exists()), IMAGES / "edge-ab-update/figures.json")
HEARTBEAT_INTERVAL_S = 10.0  # agents/edge/uplink/config.py: heartbeat_interval_s
VERSION = "0.1.1"


def release(out: Path) -> Path:
    cmd = [sys.executable, str(PROVISIONING / "release.py"), "--extra", "", "--version", VERSION, "--out", str(out)]
    return Path(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def timed_rollout(lab: Lab, env: dict[str, str], edges: list[str]) -> tuple[float, float]:
    """Wall-clock seconds for rollout.py to update ``edges`` in one stage, and the CPU seconds it and pyinfra
    used here (the operator's machine: pyinfra runs every host's greenlet in one thread). Every edge must end
    up updated."""
    lab.write_inventory({"relays": [["relay", {}]], "edges": [[e, {"edge_relay": "relay"}] for e in edges]})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", lab.controller, sys.executable, "rollout.py", "inventories/lab.py",
                           "--version", VERSION, "--canary", "100"], cwd=PROVISIONING, env=env,
                          capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    results = {d["device"]: d["result"] for d in report.get("devices", [])}
    if proc.returncode != 0 or set(results.values()) != {"updated"}:
        raise SystemExit(f"rollout did not update {edges}: {results}\n{proc.stderr[-3000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=5, help="lab edges: 1 for the baseline, the rest in one wave")
    parser.add_argument("--fleet", type=int, default=1000)
    parser.add_argument("--relays", type=int, default=10)
    parser.add_argument("--canary", type=float, default=5)
    parser.add_argument("--wave", type=float, default=25)
    parser.add_argument("--uplink-mbps", type=float, default=1000, help="operator machine's upload bandwidth (field model)")
    parser.add_argument("--release-mb", type=float, help="release size for the field model (default: the lab release's)")
    parser.add_argument("--image-figures", type=Path, default=IMAGE_FIGURES,
                        help="the A/B test's figures (one box's measured image rollout)")
    parser.add_argument("--relay-mbps", type=float, default=1000, help="what a relay serves its edges (image model)")
    args = parser.parse_args()
    if args.edges < 3:
        parser.error("--edges: at least 3 (one baseline edge, then a wave of two or more)")
    with tempfile.TemporaryDirectory(prefix="guardian-bench-rollout-") as tmp:
        workdir = Path(tmp)
        tar = release(workdir / "releases")
        release_mb = args.release_mb or tar.stat().st_size / 1e6
        with Lab(workdir / "lab", build_tree()) as lab:
            lab.add("relay")
            names = [f"edge{i}" for i in range(1, args.edges + 1)]
            for name in names:
                lab.add(name, behind="relay")
            for machine in lab.machines.values():
                lab.wait_ssh(machine)
            env = {**os.environ, "GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(tar.parent),
                   "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_EDGE_EXTRA": "",
                   "GUARDIAN_EDGE_HEALTH_UNITS": "guardian-edge-selftest.service",
                   "GUARDIAN_EDGE_HEARTBEAT_TIMEOUT": "0"}
            one, _ = timed_rollout(lab, env, names[:1])
            many, many_cpu = timed_rollout(lab, env, names[1:])
    wave_size = args.edges - 1
    fleet = [Edge(f"edge-{i}", f"relay-{i % args.relays}") for i in range(args.fleet)]
    stages = plan(fleet, canary_percent=args.canary, wave_percent=args.wave)
    # Lab model: a straight line through the two measured points (edges contend for these cores).
    per_edge = max(0.0, (many - one) / (wave_size - 1))
    fixed = one - per_edge
    # Field model: each edge installs on its own CPU, in parallel; what grows with the wave is the operator
    # machine's CPU (one pyinfra thread) and the upload of the release to every edge over its uplink.
    cpu_per_edge = many_cpu / wave_size
    upload_per_edge = release_mb * 8 / args.uplink_mbps
    lab_t = [fixed + per_edge * len(s.edges) + HEARTBEAT_INTERVAL_S for s in stages]
    field_t = [one + max(cpu_per_edge, upload_per_edge) * (len(s.edges) - 1) + HEARTBEAT_INTERVAL_S for s in stages]
    print(f"measured: 1 edge in {one:.1f} s (baseline); {wave_size} edges in one parallel run in {many:.1f} s, "
          f"{many_cpu:.1f} s CPU on this machine ({cpu_per_edge:.2f} s per edge); release {release_mb:.1f} MB")
    print(f"lab model:   t(n) = {fixed:.1f} s + {per_edge:.2f} s x n  (lab edges share {os.cpu_count()} cores: pessimistic)")
    print(f"field model: t(n) = {one:.1f} s + max(CPU {cpu_per_edge:.2f} s, upload {upload_per_edge:.2f} s at "
          f"{args.uplink_mbps:g} Mbit/s) x (n - 1)")
    print(f"plan: {args.fleet} edges over {args.relays} relays, canary {args.canary:g} %, waves {args.wave:g} %; "
          f"each stage + {HEARTBEAT_INTERVAL_S:.0f} s heartbeat wait")
    for stage, lab_s, field_s in zip(stages, lab_t, field_t, strict=True):
        print(f"      {stage.name:8} {len(stage.edges):5} edges   lab {lab_s / 60:6.1f} min   field {field_s / 60:6.1f} min")
    print(f"total: lab model {sum(lab_t) / 60:.1f} min, field model {sum(field_t) / 60:.1f} min (goal: < 60 min); "
          f"one edge after another: {args.fleet * one / 3600:.1f} h")
    if args.image_figures.exists():
        image_projection(json.loads(args.image_figures.read_text()), stages, cpu_per_edge, args.relay_mbps)
    else:
        print(f"image updates: no figures at {args.image_figures} (run tests/images/test_edge_ab_update.py first)")
    print("assumed: relays' SSH and the operator's machine take a whole wave at once (the relay image: 128 "
          "connections per source, tests/images/test_nspawn_operator_ssh.py; Debian relays: MaxStartups 128 set by deploy_relay.py, see "
          "provisioning/README.md, 'At scale'); the release size is the lab's core release: pass --release-mb for "
          "the edge release")


def image_projection(figures: dict, stages: list, cpu_per_edge: float, relay_mbps: float) -> None:
    one = float(figures["rollout_v2_wall_s"])
    size = figures["sizes"][max(figures["sizes"])]  # the version rolled out
    update_mb = (size["usr_bytes"] + size["verity_bytes"] + size["uki_bytes"]) / 1e6
    serve_per_edge = update_mb * 8 / relay_mbps
    times = []
    for stage in stages:
        busiest = max(Counter(e.relay for e in stage.edges).values())
        times.append(one + max(cpu_per_edge * (len(stage.edges) - 1), serve_per_edge * (busiest - 1)))
    print(f"image updates ({size['image']}): one box's rollout {one:.1f} s measured under QEMU TCG (install {figures.get('update_seconds')} s, "
          f"reboot to marked good {figures.get('reboot_to_marked_good_s')} s); update {update_mb:.0f} MB, "
          f"{serve_per_edge:.2f} s per edge from its relay at {relay_mbps:g} Mbit/s")
    for stage, seconds in zip(stages, times, strict=True):
        print(f"      {stage.name:8} {len(stage.edges):5} edges   image {seconds / 60:6.1f} min")
    print(f"total: image model {sum(times) / 60:.1f} min (goal: < 60 min); one box after another: "
          f"{len([e for s in stages for e in s.edges]) * one / 3600:.1f} h")


if __name__ == "__main__":
    main()
