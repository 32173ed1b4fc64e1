"""Config apply time: a change saved through the cloud's API until the cloud shows the edge applied it.

    .venv/bin/python bench/config_apply.py [--changes 20] [--config-wait-s SECONDS] [--config-poll-s SECONDS]

The demo stack (demo/stack.py: fake camera, edge recorder/detector/uplink/archive, relay in tls mode, cloud,
each its own process, as tests/e2e runs it) in a temporary directory. Each change renames the demo camera
(``PUT /api/v1/devices/{id}/config``, as the Cameras page saves), then the bench watches, every 10 ms, where
the new version stands: stored by the relay (its ``desired_configs``: the relay's long poll of
``GET /api/v1/relay/configs``, ``[cloud] config_wait_s``; with 0, a poll every ``config_poll_s``), applied by the edge (its
``config_versions``: the Watch stream and the apply), its report at the relay (``config_reports``), and
``GET …/config`` in the cloud showing ``applied_version`` == the saved version (the relay's forwarder).
Each stage is timed from the start of the PUT; the baseline, measured in the same run, is the PUT alone.
p50/p95 over ``--changes``; the issue's goal is p95 ≤ 2 s from save to applied in the cloud. Nothing is
asserted. ``--config-wait-s`` and ``--config-poll-s`` set the relay's long poll and poll interval (default:
the relay's own defaults; ``--config-wait-s 0`` measures plain polling, the baseline before long polls).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.stack import CACHE, CAMERA, DemoStack, Options, Ports

STAGES = ("put", "relay_has_it", "edge_applied", "relay_has_report", "cloud_shows_applied")
POLL_S = 0.01


def _max_version(database: Path, sql: str) -> int:
    """A version read from an appliance's SQLite file (read-only; the programs write it meanwhile)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute(sql).fetchone()
    return int(row[0] or 0) if row else 0


def one_change(stack: DemoStack, client: httpx.Client, path: str, index: int) -> dict[str, float]:
    relay_db = stack.path("relay", "relay.db")
    current = client.get(path).json()
    camera = {"name": CAMERA, "display_name": f"Demo camera {index}", "enabled": True,
              "record": {"url": f"rtsp://127.0.0.1:{stack.ports.camera}/cam"}}
    began = time.monotonic()
    saved = client.put(path, json={"base_version": current["version"], "cameras": [camera]})
    times = {"put": time.monotonic() - began}
    if saved.status_code not in (200, 201):
        raise SystemExit(f"the change was refused: {saved.status_code} {saved.text[:300]}")
    version = int(saved.json()["version"])
    probes = {
        "relay_has_it": lambda: _max_version(relay_db, "SELECT MAX(version) FROM desired_configs"),
        "edge_applied": lambda: _max_version(stack.edge_db, "SELECT MAX(version) FROM config_versions "
                                                            "WHERE status = 'applied'"),
        "relay_has_report": lambda: _max_version(relay_db, "SELECT MAX(applied_version) FROM config_reports"),
        "cloud_shows_applied": lambda: int(client.get(path).json()["reported"]["applied_version"]),
    }
    deadline = began + 60
    while len(times) < len(STAGES):
        for stage, probe in probes.items():
            if stage not in times and probe() >= version:
                times[stage] = time.monotonic() - began
        if time.monotonic() > deadline:
            raise SystemExit(f"version {version} not through every stage in 60 s: {times}")
        time.sleep(POLL_S)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--config-poll-s", type=float, default=None,
                        help="the relay's [cloud] config_poll_s (default: the relay's default)")
    parser.add_argument("--config-wait-s", type=int, default=None,
                        help="the relay's [cloud] config_wait_s, its long poll (default: the relay's default)")
    args = parser.parse_args()
    # The demo's relay.toml leaves both unset: the environment sets them (inherited by the relay).
    if args.config_poll_s is not None:
        os.environ["GUARDIAN_RELAY_CLOUD__CONFIG_POLL_S"] = str(args.config_poll_s)
    if args.config_wait_s is not None:
        os.environ["GUARDIAN_RELAY_CLOUD__CONFIG_WAIT_S"] = str(args.config_wait_s)
    from agents.relay.config import CloudSettings

    poll = args.config_poll_s if args.config_poll_s is not None else CloudSettings.model_fields["config_poll_s"].default
    wait = args.config_wait_s if args.config_wait_s is not None else CloudSettings.model_fields["config_wait_s"].default
    with tempfile.TemporaryDirectory() as tmp:
        stack = DemoStack(Options(state_dir=Path(tmp) / "demo", ports=Ports.free(), footage=CACHE / "vtest.mp4",
                                  echo=False))
        info = stack.up()
        try:
            print(f"demo stack up in {stack.timings['total']:.1f} s; first camera applied in "
                  f"{stack.timings['camera-config']:.2f} s; relay config_wait_s {wait} (long poll; 0: none), "
                  f"config_poll_s {poll:g}", flush=True)
            rows: dict[str, list[float]] = {stage: [] for stage in STAGES}
            with httpx.Client(base_url=stack.cloud_url, timeout=30) as client:
                stack.login(client, info.email, info.password)
                path = f"/api/v1/devices/{info.device_id}/config"
                for index in range(args.changes):
                    for stage, seconds in one_change(stack, client, path, index).items():
                        rows[stage].append(seconds)
        finally:
            stack.down()
    put50 = statistics.median(rows["put"])
    print(f"\n{args.changes} changes, seconds from the start of the PUT (× the PUT alone, the baseline):")
    print(f"  {'stage':<22} {'p50':>14} {'p95':>14} {'max':>8}")
    for stage in STAGES:
        p50, p95 = pct(rows[stage], 0.5), pct(rows[stage], 0.95)
        print(f"  {stage:<22} {p50:7.3f} ×{p50 / put50:5.0f} {p95:7.3f} ×{p95 / put50:5.0f} {max(rows[stage]):8.3f}")
    p95 = pct(rows["cloud_shows_applied"], 0.95)
    print(f"save → applied in the cloud: p95 {p95:.2f} s (goal ≤ 2 s: {'met' if p95 <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
