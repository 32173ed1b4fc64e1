"""Metrics bytes per edge per day on the WireGuard tunnel (issue #23), against a 4G site's budget: the
uplink's scrape proxy as it was (every series as the agent sends it, a connection per scrape) and as
shipped (only the series rules and dashboards read, gzipped, the connection kept), in the same run.

    .venv/bin/python bench/fleet_tunnel_bytes.py [--window 30] [--interval 1]

Runs the real relay and the edge as shipped in the namespace lab (tests/observability/fleet_lab.py: the
recorder, detector and uplink agents and prometheus-node-exporter on the edge's loopback, the uplink's
scrape proxy on its tunnel address; the uplink's heartbeats and telemetry slowed to 30/60 s so that the
scrapes dominate the counters). Counts the bytes on the relay's WireGuard interface (rx + tx, WireGuard,
UDP and TCP overhead included) over a window without scraping (the baseline) and over the same window
with the relay's agent-mode Prometheus scraping one agent's /metrics/<agent> through the proxy every
``--interval`` seconds; the difference divided by the number of scrapes is the cost of one scrape. Each
agent is measured with the proxy unfiltered (``filter = false``, ``idle_timeout_s = 0``: as before) and
then as shipped (the uplink restarted with its defaults), extrapolated to a day at the deployed edge
interval (4 min, group_data/relays.py) and at 60 s.

Assumptions, printed with the figures: a 4G site's plan of 5 GB/month; the recorder and detector have one
camera (their per-camera series grow with cameras); the archive uploader (scraped only under relays that
accept archives) costs what the uplink's endpoint costs unfiltered and what the detector's costs filtered
(none of its series is read); between the relay's scrapes 4 min apart the connection stays open
(Prometheus keeps idle scrape connections 5 min, the proxy 10 min).
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

from tests.observability.fleet_lab import (  # noqa: E402
    EDGE_SCRAPE_PORT,
    EDGE_TUNNEL,
    enrol_edge,
    fleet_lab,
    http_get,
    start_edge_agent,
)
from tests.relay.netlab import RELAY_ID, TENANT, Lab, wait_for  # noqa: E402

EDGE_INTERVAL_S = 240  # relay_edge_scrape_interval (group_data/relays.py)
FAST_INTERVAL_S = 60
AGENTS = ("recorder", "detector", "uplink", "node")
BUDGET_BYTES_PER_MONTH = 5e9  # a 4G site's data plan, assumed: 5 GB/month
# The proxy as it was before kept_series and keep-alive (environment overrides of [uplink.scrape_proxy]).
UNFILTERED = {"GUARDIAN_EDGE_UPLINK__SCRAPE_PROXY__FILTER": "false",
              "GUARDIAN_EDGE_UPLINK__SCRAPE_PROXY__IDLE_TIMEOUT_S": "0"}


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
                "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{interval}s"},
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
    name = f"p-{agent}-{time.monotonic_ns()}"
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
    time.sleep(interval + 2)  # the first scrape (and its connection), then a steady state
    used = measure(lab, window)
    lab.stop(name)
    return max(0.0, used - baseline) / (window / interval)


def restart_uplink(lab: Lab, env: dict[str, str] | None) -> None:
    lab.stop("uplink")
    start_edge_agent(lab, "uplink", env)
    url = f"http://{EDGE_TUNNEL}:{EDGE_SCRAPE_PORT}/metrics/uplink"
    wait_for(lambda: http_get(lab, lab.ns_relay, url)[0] == 200, 60, "the restarted uplink's scrape proxy", 0.5)


def phase(lab: Lab, env: dict[str, str] | None, window: float, interval: int) -> tuple[float, dict[str, float]]:
    """(baseline bytes per second, agent -> bytes per scrape) with the uplink run with ``env``."""
    restart_uplink(lab, env)
    baseline = measure(lab, window)
    return baseline / window, {agent: per_scrape(lab, agent, baseline, window, interval) for agent in AGENTS}


def per_day(scrape_bytes: float, interval: int) -> float:
    return scrape_bytes * 86400 / interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=30.0, help="seconds per measured window")
    parser.add_argument("--interval", type=int, default=1, help="scrape interval in the bench (seconds)")
    args = parser.parse_args()
    quiet = {"heartbeat_interval_s": 30.0, "telemetry_interval_s": 60.0}
    with tempfile.TemporaryDirectory() as tmp, fleet_lab(Path(tmp), show_logs=False, uplink=quiet) as lab:
        enrol_edge(lab)  # the edge as shipped: agents and node exporter on loopback, the proxy on the tunnel
        before_base, before = phase(lab, UNFILTERED, args.window, args.interval)
        after_base, after = phase(lab, None, args.window, args.interval)

    budget_day = BUDGET_BYTES_PER_MONTH / 30
    print(f"tenant {TENANT}, relay {RELAY_ID}; window {args.window:.0f} s, bench scrape interval {args.interval} s; "
          f"baseline (slowed heartbeats, no scraping) {before_base:.0f} / {after_base:.0f} B/s")
    print(f"{'bytes per scrape on the tunnel':32s} {'before':>9s} {'after':>9s}")
    for agent in AGENTS:
        print(f"/metrics/{agent:23s} {before[agent]:9.0f} {after[agent]:9.0f}")
    # The archive uploader, when scraped: as much as the uplink unfiltered, as the detector filtered.
    edge_before = sum(before.values()) + before["uplink"]
    edge_after = sum(after.values()) + after["detector"]
    print(f"{'edge (+ archive as noted)':32s} {edge_before:9.0f} {edge_after:9.0f}")
    for interval in (EDGE_INTERVAL_S, FAST_INTERVAL_S):
        b, a = per_day(edge_before, interval), per_day(edge_after, interval)
        print(f"every {interval:3d} s: {b / 1e6:5.2f} MB/day = {100 * b / budget_day:5.2f} % before, "
              f"{a / 1e6:5.2f} MB/day = {100 * a / budget_day:5.2f} % after, of a "
              f"{BUDGET_BYTES_PER_MONTH / 1e9:.0f} GB/month 4G budget ({budget_day / 1e6:.0f} MB/day; goal < 1 %)")


if __name__ == "__main__":
    main()
