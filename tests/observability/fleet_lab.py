"""The WireGuard namespace lab (tests/relay/netlab.py) with an edge as the image ships it, for the fleet
metrics and alert tests.

The edge runs the recorder, the detector and the uplink, each with the units' environment (its own
loopback ``/metrics`` port, units/guardian-edge-*.service) and nothing else about metrics, and the node
exporter with the image's arguments (mkosi.profiles/edge/mkosi.extra/etc/default/prometheus-node-exporter).
The relay writes its edges as file_sd targets (``guardian-relay scrape-targets``); its Prometheus in agent
mode (the provisioning template) scrapes them through the uplink's scrape proxy on the tunnel and
remote-writes to the operator's Prometheus, on the relay's loopback here (the lab has no third host).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import jinja2
import pytest

from agents.relay.scrape_targets import EDGE_SCRAPE_PORT
from tests.relay.netlab import PYTHON, RELAY_ID, ROOT, Lab, wait_for

# The first device a relay enrols gets the first free host after the relay's own address (registry.py).
EDGE_TUNNEL = "10.77.0.2"
# GUARDIAN_EDGE_METRICS__PORT of units/guardian-edge-{recorder,detector,uplink}.service.
EDGE_AGENT_PORTS = {"recorder": 9464, "detector": 9465, "uplink": 9466}
NODE_EXPORTER_DEFAULTS = ROOT / "mkosi.profiles" / "edge" / "mkosi.extra" / "etc" / "default" / "prometheus-node-exporter"
AGENT_PROMETHEUS_PORT = 9190
OPERATOR_PORT = 9191


@contextlib.contextmanager
def fleet_lab(workdir: Path, show_logs: bool = True, uplink: dict[str, Any] | None = None) -> Iterator[Lab]:
    """The lab; ``uplink`` overrides settings of the edge's [uplink] section."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "wg", "wireguard-go", "prometheus", "prometheus-node-exporter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/50-wireguard.sh, 15-observability.sh)")
    lab = Lab(
        workdir,
        cloud=False,
        # As shipped: [metrics] enabled, address and port left to the units' environment.
        edge_overrides={"metrics": {"enabled": True}, "models": {"store_dir": workdir / "models"}, "uplink": uplink or {}},
        relay_overrides={"metrics": {"enabled": True, "address": "127.0.0.1", "port": 9464}},
    ).__enter__()
    try:
        yield lab
    finally:
        for name in lab.logs if show_logs else ():  # shown by pytest only when the test failed
            print(f"===== {name} =====\n{lab.log_tail(name, 30)}")
        lab.close()


def start_edge_agent(lab: Lab, agent: str, env: dict[str, str] | None = None) -> None:
    """An edge agent with its unit's metrics port (and ``env``, e.g. settings), in the edge's namespace."""
    settings = [f"{name}={value}" for name, value in (env or {}).items()]
    lab._start(
        agent,
        lab.ns_edge,
        ["env", f"GUARDIAN_EDGE_METRICS__PORT={EDGE_AGENT_PORTS[agent]}", *settings,
         PYTHON, "-m", "agents.edge.cli", agent, "run", "-c", str(lab.edge_config)],
    )


def enrol_edge(lab: Lab) -> str:
    """Start the relay, enrol the edge and start its agents; the device id once the relay can scrape it."""
    lab.start_relay()
    enrolled = lab.enrol(lab.token())
    assert enrolled.returncode == 0, enrolled.stderr
    [(device_id, address)] = lab.relay_query("SELECT device_id, tunnel_address FROM devices")
    assert address == EDGE_TUNNEL
    defaults = NODE_EXPORTER_DEFAULTS.read_text().split('ARGS="', 1)[1].split('"', 1)[0]
    lab._start("node-exporter", lab.ns_edge, ["prometheus-node-exporter", *shlex.split(defaults)])
    for agent in EDGE_AGENT_PORTS:
        start_edge_agent(lab, agent)
    wait_for(lambda: lab.port_open(lab.ns_relay, EDGE_TUNNEL, EDGE_SCRAPE_PORT), 60, "the scrape proxy on the tunnel")
    return str(device_id)


def write_targets(lab: Lab, output: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run(
        [PYTHON, "-m", "agents.relay.cli", "scrape-targets", "-c", str(lab.relay_config), str(output)],
        check=True, env=env, cwd=ROOT, capture_output=True,
    )


def render_relay_prometheus(
    targets: Path, remote_write_url: str, interval: str = "60s", edge_interval: str = "4m", tenant: str = "tenant-a"
) -> str:
    """The relay's agent-mode config as tasks/relay_metrics.py renders it."""
    host = SimpleNamespace(
        data=SimpleNamespace(
            relay_metrics_interval=interval,
            relay_edge_scrape_interval=edge_interval,
            tenant_id=tenant,
            relay_remote_write_url=remote_write_url,
            relay_remote_write_ca_file=None,
        )
    )
    template = (ROOT / "provisioning" / "templates" / "prometheus-relay.yml.j2").read_text()
    return jinja2.Template(template, undefined=jinja2.StrictUndefined).render(
        host=host, relay_id=RELAY_ID, targets_file=str(targets)
    )


def start_prometheuses(lab: Lab, operator: dict[str, Any]) -> Path:
    """The relay's targets, its agent-mode Prometheus (1 s scrapes) and the operator's Prometheus with
    ``operator`` as its config (plus the remote-write receiver); the targets file."""
    targets = lab.dir / "relay" / "edges.json"
    write_targets(lab, targets)
    agent_config = lab.dir / "relay-prometheus.yml"
    agent_config.write_text(
        render_relay_prometheus(targets, f"http://127.0.0.1:{OPERATOR_PORT}/api/v1/write", "1s", "1s")
    )
    operator_config = lab.dir / "operator-prometheus.yml"
    operator_config.write_text(json.dumps(operator))
    lab._start("operator-prometheus", lab.ns_relay, [
        "prometheus", f"--config.file={operator_config}", f"--storage.tsdb.path={lab.dir / 'operator-tsdb'}",
        f"--web.listen-address=127.0.0.1:{OPERATOR_PORT}", "--web.enable-remote-write-receiver",
    ])
    lab._start("relay-prometheus", lab.ns_relay, [
        "prometheus", "--enable-feature=agent", f"--config.file={agent_config}",
        f"--storage.agent.path={lab.dir / 'relay-wal'}", f"--web.listen-address=127.0.0.1:{AGENT_PROMETHEUS_PORT}",
    ])
    return targets


def http_get(lab: Lab, ns: str, url: str) -> tuple[int, str]:
    """(status, body) of a GET from inside namespace ``ns``; status 0 when nothing answered."""
    code = (
        "import json,sys,urllib.error,urllib.request\n"
        "try:\n"
        "    r=urllib.request.urlopen(sys.argv[1],timeout=5); print(json.dumps([r.status,r.read().decode()]))\n"
        "except urllib.error.HTTPError as e: print(json.dumps([e.code,'']))\n"
        "except OSError: print(json.dumps([0,'']))"
    )
    proc = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", code, url], capture_output=True, text=True)
    status, body = json.loads(proc.stdout)
    return int(status), str(body)


def query(lab: Lab, promql: str) -> list[dict[str, Any]]:
    """An instant query against the operator's Prometheus (inside the relay's namespace)."""
    status, body = http_get(lab, lab.ns_relay, f"http://127.0.0.1:{OPERATOR_PORT}/api/v1/query?" + urlencode({"query": promql}))
    if status != 200:
        return []
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def up_by_agent(lab: Lab, device: str) -> dict[str, str]:
    """agent -> the value of ``up`` the relay last scraped for ``device``, in the operator's Prometheus."""
    return {r["metric"]["agent"]: r["value"][1] for r in query(lab, f'up{{job="guardian-edge",device="{device}"}}')}
