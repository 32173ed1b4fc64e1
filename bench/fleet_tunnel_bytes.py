"""Metrics bytes per edge per day on the WireGuard tunnel (issue #23), against a 4G site's budget.

    .venv/bin/python bench/fleet_tunnel_bytes.py [--window 60] [--interval 5]

Runs the real relay and edge uplink agent in the namespace lab (tests/relay/netlab.py), plus
prometheus-node-exporter in the edge's namespace on its tunnel address. Counts the bytes on the relay's
WireGuard interface (rx + tx, WireGuard and UDP overhead included) over a window without scraping (the
uplink's own heartbeats and telemetry: the baseline) and over the same window with the relay's
agent-mode Prometheus scraping the edge every ``--interval`` seconds; the difference divided by the
number of scrapes is the cost of one scrape, extrapolated to a day at the deployed interval (60 s,
group_data/relays.py). Assumptions, printed with the figures: the edge's four agents
(recorder, detector, uplink, archive) cost what the uplink's endpoint costs each (their registries are
of the same order); Prometheus asks for gzip, which the agents and the node exporter serve.
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

from tests.relay.netlab import RELAY_ID, TENANT, Lab, wait_for  # noqa: E402

EDGE_TUNNEL = "10.77.0.2"
UPLINK_METRICS = 9466
NODE_EXPORTER = 9100
DEPLOYED_INTERVAL_S = 60
EDGE_AGENTS = 4
BUDGET_BYTES_PER_MONTH = 5e9  # a 4G site's data plan, assumed: 5 GB/month
NODE_COLLECTORS = (
    "cpu",
    "meminfo",
    "filesystem",
    "loadavg",
    "netdev",
    "diskstats",
    "time",
    "uname",
    "pressure",
)


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


def scrape_config(lab: Lab, name: str, targets: list[str], interval: int) -> Path:
    config = lab.dir / f"{name}.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{max(1, interval - 1)}s"},
                "scrape_configs": [{"job_name": "edge", "static_configs": [{"targets": targets}]}],
            }
        )
    )
    return config


def per_scrape(lab: Lab, name: str, targets: list[str], baseline: int, window: float, interval: int) -> float:
    """Tunnel bytes one scrape of ``targets`` costs (the agent-mode Prometheus of the relay)."""
    lab._start(
        name,
        lab.ns_relay,
        [
            "prometheus",
            "--enable-feature=agent",
            f"--config.file={scrape_config(lab, name, targets, interval)}",
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
    with (
        tempfile.TemporaryDirectory() as tmp,
        Lab(
            Path(tmp),
            cloud=False,
            edge_overrides={
                "metrics": {"enabled": True, "address": EDGE_TUNNEL, "port": UPLINK_METRICS},
            },
        ) as lab,
    ):
        subprocess.run(
            ["ip", "netns", "exec", lab.ns_edge, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"], check=True
        )
        lab.start_relay()
        assert lab.enrol(lab.token()).returncode == 0, "enrolment failed"
        lab.start_edge()
        wait_for(
            lambda: lab.port_open(lab.ns_relay, EDGE_TUNNEL, UPLINK_METRICS),
            60,
            "the edge's metrics over the tunnel",
        )
        lab._start(
            "node-full",
            lab.ns_edge,
            ["prometheus-node-exporter", f"--web.listen-address={EDGE_TUNNEL}:{NODE_EXPORTER}"],
        )
        lab._start(
            "node-small",
            lab.ns_edge,
            [
                "prometheus-node-exporter",
                f"--web.listen-address={EDGE_TUNNEL}:{NODE_EXPORTER + 1}",
                "--collector.disable-defaults",
                *(f"--collector.{c}" for c in NODE_COLLECTORS),
            ],
        )
        wait_for(
            lambda: lab.port_open(lab.ns_relay, EDGE_TUNNEL, NODE_EXPORTER + 1), 30, "the node exporters"
        )

        baseline = measure(lab, args.window)
        uplink = per_scrape(
            lab, "p-uplink", [f"{EDGE_TUNNEL}:{UPLINK_METRICS}"], baseline, args.window, args.interval
        )
        node_full = per_scrape(
            lab, "p-node-full", [f"{EDGE_TUNNEL}:{NODE_EXPORTER}"], baseline, args.window, args.interval
        )
        node_small = per_scrape(
            lab, "p-node-small", [f"{EDGE_TUNNEL}:{NODE_EXPORTER + 1}"], baseline, args.window, args.interval
        )

    scrapes_per_day = 86400 / DEPLOYED_INTERVAL_S
    budget_day = BUDGET_BYTES_PER_MONTH / 30
    print(
        f"tenant {TENANT}, relay {RELAY_ID}; window {args.window:.0f} s, bench scrape interval {args.interval} s"
    )
    print(
        f"baseline (uplink heartbeats + telemetry, no scraping): {baseline / args.window * 86400 / 1e6:8.2f} MB/day"
    )
    rows = [
        ("one agent's /metrics (uplink)", uplink),
        ("node exporter, default collectors", node_full),
        (f"node exporter, {len(NODE_COLLECTORS)} collectors", node_small),
    ]
    for name, cost in rows:
        print(
            f"{name:40s} {cost / 1e3:7.2f} kB/scrape  {cost * scrapes_per_day / 1e6:7.2f} MB/day at {DEPLOYED_INTERVAL_S} s"
        )
    for label, node in (("default", node_full), ("small", node_small)):
        day = (EDGE_AGENTS * uplink + node) * scrapes_per_day
        print(
            f"edge total ({EDGE_AGENTS} agents ~ uplink each + node exporter {label}): {day / 1e6:6.2f} MB/day = "
            f"{100 * day / budget_day:5.2f} % of a {BUDGET_BYTES_PER_MONTH / 1e9:.0f} GB/month 4G budget "
            f"({budget_day / 1e6:.0f} MB/day; goal < 1 %)"
        )


if __name__ == "__main__":
    main()
