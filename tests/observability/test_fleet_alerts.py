"""Issue #23, part 2: a stopped edge fires "edge offline" through Alertmanager, in the WireGuard lab.

The edge as shipped (tests/observability/fleet_lab.py) is scraped by its relay's agent-mode Prometheus
through the uplink's scrape proxy; the operator's Prometheus receives the series by remote write, loads
observability/rules/guardian.rules.yml as it is (1 s evaluations, every rule's ``for:`` as written) and
sends to a real Alertmanager (Debian's prometheus-alertmanager, provisioning/templates/alertmanager.yml.j2)
that delivers to a webhook receiver; all three in the relay's namespace (the lab's operator host). The
edge's agents are killed (SIGKILL): the relay's scrapes of the edge fail, ``up`` of its uplink endpoint
drops to 0, and GuardianEdgeOffline fires after its minute. The time from the kill to the delivery is
printed.

Not here: "camera down". GuardianCameraDown reads the cloud's guardian_cloud_fleet_cameras_down (the
edge's camera status as the relay reports it) with ``for: 5m``: a lab run would take over five minutes,
so it stays covered by its promtool unit test (observability/rules/guardian.rules.test.yml).
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.observability.conftest import ROOT, RULES
from tests.observability.fleet_lab import (
    EDGE_AGENT_PORTS,
    enrol_edge,
    fleet_lab,
    query,
    start_prometheuses,
    up_by_agent,
)
from tests.relay.netlab import PYTHON, RELAY_ID, TENANT, Lab, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager")
ALERTMANAGER_PORT = 9193
WEBHOOK_PORT = 9194

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None, reason="Debian prometheus-alertmanager not installed (scripts/setup.sh)"
)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with fleet_lab(tmp_path / "lab") as lab:
        yield lab


def start_webhook(lab: Lab) -> queue.Queue[dict[str, Any]]:
    """The webhook receiver (tests/observability/alerting.py) in the relay's namespace; its notifications."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns_relay, PYTHON, "-m", "tests.observability.alerting", str(WEBHOOK_PORT)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    lab.procs["webhook"] = proc  # stopped by lab.close()
    assert proc.stdout is not None
    assert "listening" in json.loads(proc.stdout.readline())
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    def read(stream: Any = proc.stdout) -> None:
        for line in stream:
            received.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return received


def start_alertmanager(lab: Lab) -> None:
    template = jinja2.Template((ROOT / "provisioning" / "templates" / "alertmanager.yml.j2").read_text(),
                               undefined=jinja2.StrictUndefined)
    config = lab.dir / "alertmanager.yml"
    config.write_text(template.render(webhook_url=f"http://127.0.0.1:{WEBHOOK_PORT}/alerts",
                                      group_wait="0s", group_interval="1s", repeat_interval="1h"))
    lab._start("alertmanager", lab.ns_relay, [
        str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={lab.dir / 'am'}",
        f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}", "--cluster.listen-address=",
    ])
    wait_for(lambda: lab.port_open(lab.ns_relay, "127.0.0.1", ALERTMANAGER_PORT), 30, "Alertmanager")


def next_alert(received: queue.Queue[dict[str, Any]], alertname: str, timeout: float) -> dict[str, Any]:
    """The next firing notification for ``alertname`` (others, e.g. the lab's absent cloud, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        body = received.get(timeout=max(0.1, deadline - time.monotonic()))
        if body["status"] == "firing" and body["groupLabels"].get("alertname") == alertname:
            return body


def test_a_killed_edge_fires_edge_offline_through_alertmanager(lab: Lab) -> None:
    device_id = enrol_edge(lab)
    received = start_webhook(lab)
    start_alertmanager(lab)
    start_prometheuses(lab, {
        "global": {"scrape_interval": "15s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}]},
        "scrape_configs": [],
    })
    # The operator sees the edge's agents up (the detector's and recorder's series too) and no alert.
    wait_for(lambda: all(up_by_agent(lab, device_id).get(a) == "1" for a in EDGE_AGENT_PORTS), 60,
             "the edge's agents up at the operator's", 0.5)
    for metric in ("guardian_edge_detection_frames_total", "guardian_edge_video_streaming"):
        assert query(lab, f'{metric}{{device="{device_id}"}}'), metric
    assert not query(lab, 'ALERTS{alertname="GuardianEdgeOffline"}')

    killed = time.monotonic()
    for name in (*EDGE_AGENT_PORTS, "node-exporter"):
        lab.stop(name, signal.SIGKILL)
    notification = next_alert(received, "GuardianEdgeOffline", timeout=120)
    delivered = notification["received_monotonic"] - killed

    [alert] = notification["alerts"]
    assert alert["labels"] == {"alertname": "GuardianEdgeOffline", "severity": "warning",
                               "tenant": TENANT, "relay": RELAY_ID, "device": device_id}
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#edge-offline"
    assert delivered >= 60, "fired before the rule's `for: 1m`"  # the rule as written, not a shortened copy
    print(f"\nedge agents killed -> GuardianEdgeOffline delivered to the webhook: {delivered:.1f} s "
          "(relay scrapes every 1 s, evaluation 1 s, the rule's for: 1m, group_wait 0 s)")
