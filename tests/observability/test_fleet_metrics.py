"""Issue #23, part 1: an edge's metrics reach the operator's Prometheus through its relay.

In the WireGuard namespace lab (tests/relay/netlab.py): a real relay and a real edge uplink agent; the
relay writes its edges as file_sd targets (``guardian-relay scrape-targets``); a Prometheus in agent
mode in the relay's namespace scrapes the edge over the tunnel and remote-writes to the operator's
Prometheus (``--web.enable-remote-write-receiver``, on the relay's loopback here: the lab has no third
host). The test asks the operator's Prometheus for the edge's series, labelled by tenant/relay/device.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from tests.relay.netlab import PYTHON, RELAY_ID, ROOT, TENANT, Lab, wait_for

# The first device a relay enrols gets the first free host after the relay's own address (registry.py).
EDGE_TUNNEL = "10.77.0.2"
EDGE_UPLINK_METRICS = 9466
AGENT_PORT = 9190
OPERATOR_PORT = 9191


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "wg", "wireguard-go", "prometheus"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/50-wireguard.sh, 15-observability.sh)")
    # The uplink serves /metrics on its tunnel address, which it binds before it brings the tunnel up:
    # ip_nonlocal_bind (set per namespace below) lets it bind an address the interface gets a moment later.
    lab = Lab(
        tmp_path / "lab",
        cloud=False,
        edge_overrides={
            "metrics": {"enabled": True, "address": EDGE_TUNNEL, "port": EDGE_UPLINK_METRICS},
        },
        relay_overrides={"metrics": {"enabled": True, "address": "127.0.0.1", "port": 9464}},
    ).__enter__()
    try:
        subprocess.run(
            ["ip", "netns", "exec", lab.ns_edge, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"], check=True
        )
        yield lab
    finally:
        for name in lab.logs:  # shown by pytest only when the test failed
            print(f"===== {name} =====\n{lab.log_tail(name, 40)}")
        lab.close()


def render_relay_prometheus(
    targets: Path, remote_write_url: str, interval: str = "60s", edge_interval: str = "4m"
) -> str:
    """The relay's agent-mode config as tasks/relay_metrics.py renders it."""
    host = SimpleNamespace(
        data=SimpleNamespace(
            relay_metrics_interval=interval,
            relay_edge_scrape_interval=edge_interval,
            tenant_id=TENANT,
            relay_remote_write_url=remote_write_url,
            relay_remote_write_ca_file=None,
        )
    )
    template = (ROOT / "provisioning" / "templates" / "prometheus-relay.yml.j2").read_text()
    return jinja2.Template(template, undefined=jinja2.StrictUndefined).render(
        host=host, relay_id=RELAY_ID, targets_file=str(targets)
    )


def _prometheus_configs(directory: Path, targets: Path) -> tuple[Path, Path]:
    agent = directory / "relay-prometheus.yml"
    agent.write_text(
        render_relay_prometheus(targets, f"http://127.0.0.1:{OPERATOR_PORT}/api/v1/write", "1s", "1s")
    )
    operator = directory / "operator-prometheus.yml"
    operator.write_text(json.dumps({"global": {"scrape_interval": "15s"}, "scrape_configs": []}))
    return agent, operator


def _query(lab: Lab, promql: str) -> list[dict[str, object]]:
    """An instant query against the operator's Prometheus (inside the relay's namespace)."""
    code = (
        "import json,sys,urllib.parse,urllib.request\n"
        f"url='http://127.0.0.1:{OPERATOR_PORT}/api/v1/query?'+urllib.parse.urlencode({{'query':sys.argv[1]}})\n"
        "print(urllib.request.urlopen(url,timeout=5).read().decode())"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.ns_relay, PYTHON, "-c", code, promql], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return []
    result: list[dict[str, object]] = json.loads(proc.stdout)["data"]["result"]
    return result


def _write_targets(lab: Lab, output: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run(
        [PYTHON, "-m", "agents.relay.cli", "scrape-targets", "-c", str(lab.relay_config), str(output)],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )


def _series(lab: Lab, device: str) -> Callable[[], list[dict[str, object]]]:
    return lambda: _query(lab, f'guardian_edge_outbox_length{{device="{device}",agent="uplink"}}')


def test_edge_metrics_reach_the_operator_through_the_relay(lab: Lab) -> None:
    lab.start_relay()
    enrolled = lab.enrol(lab.token())
    assert enrolled.returncode == 0, enrolled.stderr
    [(device_id, address)] = lab.relay_query("SELECT device_id, tunnel_address FROM devices")
    assert address == EDGE_TUNNEL
    lab.start_edge()

    targets = lab.dir / "relay" / "edges.json"
    _write_targets(lab, targets)
    groups = json.loads(targets.read_text())
    assert {
        "targets": [f"{EDGE_TUNNEL}:{EDGE_UPLINK_METRICS}"],
        "labels": {"tenant": TENANT, "relay": RELAY_ID, "device": device_id, "agent": "uplink"},
    } in groups

    agent_config, operator_config = _prometheus_configs(lab.dir, targets)
    lab._start(
        "operator-prometheus",
        lab.ns_relay,
        [
            "prometheus",
            f"--config.file={operator_config}",
            f"--storage.tsdb.path={lab.dir / 'operator-tsdb'}",
            f"--web.listen-address=127.0.0.1:{OPERATOR_PORT}",
            "--web.enable-remote-write-receiver",
        ],
    )
    lab._start(
        "relay-prometheus",
        lab.ns_relay,
        [
            "prometheus",
            "--enable-feature=agent",
            f"--config.file={agent_config}",
            f"--storage.agent.path={lab.dir / 'relay-wal'}",
            f"--web.listen-address=127.0.0.1:{AGENT_PORT}",
        ],
    )

    series = wait_for(
        _series(lab, device_id), 60, "the edge's outbox gauge in the operator's Prometheus", 0.5
    )
    labels = series[0]["metric"]  # type: ignore[index]
    assert labels["tenant"] == TENANT and labels["relay"] == RELAY_ID and labels["device"] == device_id
    up = _query(lab, f'up{{job="guardian-edge",device="{device_id}",agent="uplink"}}')
    assert up and up[0]["value"][1] == "1"  # type: ignore[index]
    # The relay's own metrics carry the tenant and relay from the config's external labels.
    relay_up = _query(lab, f'up{{job="guardian-relay",tenant="{TENANT}",relay="{RELAY_ID}"}}')
    assert relay_up and relay_up[0]["value"][1] == "1"  # type: ignore[index]

    # A revoked device leaves the targets at the next write: the relay stops scraping it.
    lab.stop("edge")
    subprocess.run(
        [PYTHON, "-m", "agents.relay.cli", "device", "revoke", "-c", str(lab.relay_config), device_id],
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")},
            "PYTHONPATH": str(ROOT),
        },
        cwd=ROOT,
        capture_output=True,
    )
    _write_targets(lab, targets)
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
