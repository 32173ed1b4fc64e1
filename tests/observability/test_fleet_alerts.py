"""Issue #23, part 2: a stopped edge fires "edge offline", a stopped camera "camera down", through
Alertmanager, in the WireGuard lab.

The edge as shipped (tests/observability/fleet_lab.py) is scraped by its relay's agent-mode Prometheus
through the uplink's scrape proxy; the operator's Prometheus receives the series by remote write, loads
observability/rules/guardian.rules.yml (1 s evaluations, every rule's ``for:`` as written but one, below) and
sends to a real Alertmanager (Debian's prometheus-alertmanager, provisioning/templates/alertmanager.yml.j2)
that delivers to a webhook receiver; all three in the relay's namespace (the lab's operator host). The
edge's agents are killed (SIGKILL): the relay's scrapes of the edge fail, ``up`` of its uplink endpoint
drops to 0, and GuardianEdgeOffline fires after its minute. The time from the kill to the delivery is
printed.

"Camera down" first, in the same lab (one lab for the module: it costs ~20 s to build): the edge records
from the real RTSP test camera (tests/conftest.py's FakeCamera, run in the edge's namespace at the URL of
the lab's edge config); the camera is killed, the recorder's guardian_edge_video_streaming drops to 0 and
GuardianCameraDown fires from that gauge alone (no cloud in this lab). Its ``for: 5m`` is shortened to
CAMERA_DOWN_FOR in the operator's copy of the rules (only that rule's ``for:``; the expression and every
other rule as written), so the test takes seconds; the time from the kill to the delivery is printed.
The edge-offline test runs second: it kills the edge.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.conftest import FakeCamera
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


# The lab's shortened `for:` of GuardianCameraDown (5m as shipped); the webhook must not see it earlier.
CAMERA_DOWN_FOR_S = 10


@dataclass
class Fleet:
    """The lab with the operator's Prometheus, Alertmanager and webhook running, and the edge's camera."""

    lab: Lab
    device_id: str
    received: queue.Queue[dict[str, Any]]
    camera: FakeCamera


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage_mp4: Path) -> Iterator[Fleet]:
    with fleet_lab(tmp_path_factory.mktemp("fleet") / "lab") as lab:
        # The camera of the lab's edge config (rtsp://127.0.0.1:8554/front), on the edge's loopback.
        camera = FakeCamera(footage_mp4, mounts=("/front",), netns=lab.ns_edge, port=8554)
        camera.start()
        try:
            device_id = enrol_edge(lab)
            received = start_webhook(lab)
            start_alertmanager(lab)
            rules = lab.dir / "guardian.rules.yml"
            rules.write_text(rules_with_for({"GuardianCameraDown": f"{CAMERA_DOWN_FOR_S}s"}))
            start_prometheuses(lab, {
                "global": {"scrape_interval": "15s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}]},
                "scrape_configs": [],
            })
            # The operator sees the edge's agents up and no alert.
            wait_for(lambda: all(up_by_agent(lab, device_id).get(a) == "1" for a in EDGE_AGENT_PORTS), 60,
                     "the edge's agents up at the operator's", 0.5)
            yield Fleet(lab, device_id, received, camera)
        finally:
            camera.stop()


def rules_with_for(shortened: dict[str, str]) -> str:
    """observability/rules/guardian.rules.yml with the ``for:`` of the alerts named in ``shortened`` replaced."""
    rules = yaml.safe_load(RULES.read_text())
    found = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in shortened:
                rule["for"] = shortened[rule["alert"]]
                found.add(rule["alert"])
    assert found == set(shortened)
    return str(yaml.safe_dump(rules, sort_keys=False))


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


def test_a_stopped_camera_fires_camera_down_through_alertmanager(fleet: Fleet) -> None:
    lab, device_id = fleet.lab, fleet.device_id
    streaming = f'guardian_edge_video_streaming{{device="{device_id}",agent="recorder"}}'
    wait_for(lambda: [s["value"][1] for s in query(lab, streaming)] == ["1"], 60,
             "the edge's camera streaming at the operator's", 0.5)
    assert not query(lab, 'ALERTS{alertname="GuardianCameraDown"}')

    stopped = time.monotonic()
    fleet.camera.stop()
    notification = next_alert(fleet.received, "GuardianCameraDown", timeout=120)
    delivered = notification["received_monotonic"] - stopped

    [alert] = notification["alerts"]
    assert alert["labels"] == {"alertname": "GuardianCameraDown", "severity": "warning",
                               "tenant": TENANT, "device": device_id}
    assert alert["annotations"]["summary"] == f"1 camera(s) of edge {device_id} down"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#camera-down"
    assert delivered >= CAMERA_DOWN_FOR_S, "fired before the lab's `for:`"
    print(f"\ncamera killed -> GuardianCameraDown delivered to the webhook: {delivered:.1f} s "
          f"(relay scrapes every 1 s, evaluation 1 s, for: {CAMERA_DOWN_FOR_S} s in the lab (5m shipped), "
          "group_wait 0 s)")


def test_a_killed_edge_fires_edge_offline_through_alertmanager(fleet: Fleet) -> None:
    lab, device_id, received = fleet.lab, fleet.device_id, fleet.received
    # The recorder's and uplink's series reach the operator too.
    for metric in ("guardian_edge_outbox_length", "guardian_edge_video_streaming"):
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
