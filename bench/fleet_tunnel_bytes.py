"""Metrics bytes per edge per day on the WireGuard tunnel (issue #23), against a 4G site's budget.

    .venv/bin/python bench/fleet_tunnel_bytes.py [--window 60] [--interval 5]

Runs the real relay and the edge as shipped in the namespace lab (tests/observability/fleet_lab.py: the
recorder, detector and uplink agents and prometheus-node-exporter on the edge's loopback, the uplink's
scrape proxy on its tunnel address). Counts the bytes on the relay's WireGuard interface (rx + tx,
WireGuard and UDP overhead included) over a window without scraping (the uplink's own heartbeats and
telemetry: the baseline) and over the same window with the relay's agent-mode Prometheus scraping one
agent's /metrics/<agent> through the proxy every ``--interval`` seconds; the difference divided by the
number of scrapes is the cost of one scrape, extrapolated to a day at 60 s and at the deployed edge
interval (4 min, group_data/relays.py). Assumptions, printed with the figures: the archive uploader costs
what the uplink's endpoint costs (registries of the same order); the recorder and detector have one
camera (their per-camera series grow with cameras); Prometheus asks for gzip, which the proxy passes
through from the agents and the node exporter.
Needs root, wireguard-go, prometheus, prometheus-node-exporter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.observability.fleet_lab import EDGE_SCRAPE_PORT, EDGE_TUNNEL, enrol_edge, fleet_lab  # noqa: E402
from tests.relay.netlab import RELAY_ID, TENANT, Lab  # noqa: E402

DEPLOYED_INTERVAL_S = 60
EDGE_INTERVAL_S = 240  # relay_edge_scrape_interval (group_data/relays.py)
AGENTS = ("recorder", "detector", "uplink", "node")
BUDGET_BYTES_PER_MONTH = 5e9  # a 4G site's data plan, assumed: 5 GB/month


def tunnel_bytes(lab: Lab) -> int:
    stats = f"/sys/class/net/{lab.wg_relay}/statistics"
    out = subprocess.run(
        ["ip", "netns", "exec", lab.ns_relay, "cat", f"{stats}/rx_bytes", f"{stats}/tx_bytes"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sum(int(v) for v in out)


def measure(lab: Lab, window: float) -> int:
    before = tunnel_bytes(lab)
    time.sleep(window)  # a measured window: the figure is bytes per unit of time
    return tunnel_bytes(lab) - before


def scrape_config(lab: Lab, name: str, target: str, path: str, interval: int) -> Path:
    config = lab.dir / f"{name}.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{max(1, interval - 1)}s"},
                "scrape_configs": [
                    {"job_name": "edge", "metrics_path": path, "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    return config


def per_scrape(lab: Lab, agent: str, baseline: int, window: float, interval: int) -> float:
    """Tunnel bytes one scrape of ``agent`` through the uplink's scrape proxy costs (the relay's
    agent-mode Prometheus, as the relay's file_sd targets point it)."""
    name = f"p-{agent}"
    target, path = f"{EDGE_TUNNEL}:{EDGE_SCRAPE_PORT}", f"/metrics/{agent}"
    lab._start(
        name,
        lab.ns_relay,
        [
            "prometheus",
            "--enable-feature=agent",
            f"--config.file={scrape_config(lab, name, target, path, interval)}",
            f"--storage.agent.path={lab.dir / name}",
            "--web.listen-address=127.0.0.1:0",
        ],
    )
    time.sleep(interval + 1)  # the first scrape, then a steady state
    used = measure(lab, window)
    lab.stop(name)
    return max(0.0, used - baseline) / (window / interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds per measured window")
    parser.add_argument("--interval", type=int, default=5, help="scrape interval in the bench (seconds)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fleet_lab(Path(tmp), show_logs=False) as lab:
        enrol_edge(lab)  # the edge as shipped: agents and node exporter on loopback, the proxy on the tunnel
        baseline = measure(lab, args.window)
        costs = {agent: per_scrape(lab, agent, baseline, args.window, args.interval) for agent in AGENTS}

    scrapes_per_day = 86400 / DEPLOYED_INTERVAL_S
    budget_day = BUDGET_BYTES_PER_MONTH / 30
    print(
        f"tenant {TENANT}, relay {RELAY_ID}; window {args.window:.0f} s, bench scrape interval {args.interval} s"
    )
    print(
        f"baseline (uplink heartbeats + telemetry, no scraping): {baseline / args.window * 86400 / 1e6:8.2f} MB/day"
    )
    for agent, cost in costs.items():
        print(
            f"/metrics/{agent:10s} {cost / 1e3:7.2f} kB/scrape  {cost * scrapes_per_day / 1e6:7.2f} MB/day at "
            f"{DEPLOYED_INTERVAL_S} s, {cost * 86400 / EDGE_INTERVAL_S / 1e6:6.2f} MB/day at {EDGE_INTERVAL_S} s"
        )
    # The archive uploader (when configured) is counted as much as the uplink: registries of the same order.
    scrape = sum(costs.values()) + costs["uplink"]
    for interval in (DEPLOYED_INTERVAL_S, EDGE_INTERVAL_S):
        day = scrape * 86400 / interval
        print(
            f"edge total (recorder, detector, uplink, archive ~ uplink, node) every {interval} s: {day / 1e6:6.2f} MB/day = "
            f"{100 * day / budget_day:5.2f} % of a {BUDGET_BYTES_PER_MONTH / 1e9:.0f} GB/month 4G budget "
            f"({budget_day / 1e6:.0f} MB/day; goal < 1 %)"
        )


if __name__ == "__main__":
    main()
