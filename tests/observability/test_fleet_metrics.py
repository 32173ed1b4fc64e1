"""Issue #23, part 1: every edge agent's metrics reach the operator's Prometheus through the relay, with
the edge configured as the image ships it, and none of them from the LAN.

In the WireGuard namespace lab (tests/observability/fleet_lab.py): the edge's recorder, detector and uplink
serve /metrics on loopback (the units' ports), the node exporter on loopback (the image's arguments); the
uplink's scrape proxy serves them on the tunnel address (agents/edge/uplink/scrape_proxy.py). The relay's
agent-mode Prometheus scrapes /metrics/<agent> there and remote-writes to the operator's Prometheus, which
the test asks for each agent's series, labelled tenant/relay/device/agent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.observability.fleet_lab import (
    EDGE_AGENT_PORTS,
    EDGE_SCRAPE_PORT,
    EDGE_TUNNEL,
    enrol_edge,
    fleet_lab,
    http_get,
    query,
    render_relay_prometheus,
    start_prometheuses,
    up_by_agent,
    write_targets,
)
from tests.relay.netlab import EDGE_PUBLIC, PYTHON, RELAY_ID, ROOT, TENANT, Lab, wait_for


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with fleet_lab(tmp_path / "lab") as lab:
        yield lab


def test_every_edge_agent_reaches_the_operator_through_the_relay_and_none_the_lan(lab: Lab) -> None:
    device_id = enrol_edge(lab)

    # Nothing answers on the edge's other address (its LAN/internet side): not the proxy, not an agent.
    for port in (EDGE_SCRAPE_PORT, *EDGE_AGENT_PORTS.values(), 9100):
        assert not lab.port_open(lab.ns_relay, EDGE_PUBLIC, port), f"{EDGE_PUBLIC}:{port} answers"
    # On the tunnel only the relay is answered (another peer, here the edge itself, is refused), and only
    # the agents' paths.
    assert http_get(lab, lab.ns_edge, f"http://{EDGE_TUNNEL}:{EDGE_SCRAPE_PORT}/metrics/uplink")[0] == 403
    assert http_get(lab, lab.ns_relay, f"http://{EDGE_TUNNEL}:{EDGE_SCRAPE_PORT}/metrics/cloud")[0] == 404

    start_prometheuses(lab, {"global": {"scrape_interval": "15s"}, "scrape_configs": []})
    # Each agent's series that a rule or panel reads (the proxy's kept_series), labelled with ids only, at
    # the operator's.
    for agent, metric in (
        ("recorder", "guardian_edge_video_streaming"),
        ("uplink", "guardian_edge_outbox_length"),
        ("node", "node_load1"),
    ):
        selector = f'{metric}{{device="{device_id}",agent="{agent}"}}'
        series = wait_for(partial(query, lab, selector), 60, f"the edge {agent}'s {metric} at the operator's", 0.5)
        labels = series[0]["metric"]  # type: ignore[index]
        assert (labels["tenant"], labels["relay"], labels["job"]) == (TENANT, RELAY_ID, "guardian-edge")
        if agent == "recorder":  # the lab camera's name ("front") stays on the edge: an opaque id crosses
            assert re.fullmatch(r"c-[0-9a-f]{12}", labels["camera"]), labels
    # The detector is up, but none of its series crosses the tunnel (no rule or panel reads them), nor
    # the unread ones of the others (a histogram, the node exporter's CPU counters).
    assert wait_for(lambda: up_by_agent(lab, device_id).get("detector"), 30, "the detector's up") == "1"
    for metric in ("guardian_edge_detection_frames_total", "guardian_edge_uplink_ack_latency_seconds_bucket",
                   "node_cpu_seconds_total"):
        assert not query(lab, f'{metric}{{device="{device_id}"}}'), metric
    # Only the agents that can run are scraped: this relay accepts no archives, so its edges run no
    # archive uploader and have no `up{agent="archive"}` (always 0 before).
    assert up_by_agent(lab, device_id) == {"detector": "1", "node": "1", "recorder": "1", "uplink": "1"}
    # The relay's own metrics carry the tenant and relay from the config's external labels.
    relay_up = query(lab, f'up{{job="guardian-relay",tenant="{TENANT}",relay="{RELAY_ID}"}}')
    assert relay_up and relay_up[0]["value"][1] == "1"

    # A revoked device leaves the targets at the next write: the relay stops scraping it.
    subprocess.run(
        [PYTHON, "-m", "agents.relay.cli", "device", "revoke", "-c", str(lab.relay_config), device_id],
        check=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
    )
    targets = lab.dir / "relay" / "edges.json"
    write_targets(lab, targets)
    assert json.loads(targets.read_text()) == []


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="Debian prometheus not installed (scripts/setup.sh)"
)
def test_relay_agent_config_checks(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_relay_prometheus(tmp_path / "edges.json", "https://ops.example.org/api/v1/write")
    )
    result = subprocess.run(
        ["promtool", "check", "config", "--agent", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
