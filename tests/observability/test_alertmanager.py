"""An edge going offline reaches the operator: a real cloud (uvicorn, SQLite) learns from its relay's
signed health report that the device is offline; a real Prometheus scrapes the cloud's fleet gauges and
evaluates observability/rules/guardian.rules.yml; a real Alertmanager, configured from
provisioning/templates/alertmanager.yml.j2, delivers the alert to a webhook receiver here, and the
resolution once the edge is back. Intervals are short (1 s scrapes and evaluations, the rule's ``for:``
cut to 1 s); the time from the report to the delivery is printed."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import jinja2
import pytest
import yaml

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, free_port, make_settings, signup
from tests.cloud.servers import serve
from tests.observability.alerting import Webhook, process
from tests.observability.conftest import ROOT, RULES

ALERTMANAGER = shutil.which("prometheus-alertmanager")
DEVICE = "dev-lab-offline"

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or ALERTMANAGER is None,
    reason="Debian prometheus and prometheus-alertmanager not installed (scripts/setup.sh)")


def rules_with_short_for(path: Path) -> None:
    """The operator's rules as they are, only "edge offline" waits 1 s instead of its minute."""
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == "GuardianEdgeOffline":
                rule["for"] = "1s"
    path.write_text(yaml.safe_dump(document))


def report(url: str, relay: RelayHandle, status: int) -> None:
    path = "/api/v1/ingest"
    body = batches.batch(relay.id, healths=[batches.health(DEVICE, {"porch": "streaming"}, status=status)])
    response = httpx.post(url + path, content=body, timeout=10,
                          headers={**relay.headers("POST", path, body), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def healthy_devices(prometheus: str) -> int:
    answer = httpx.get(f"{prometheus}/api/v1/query", timeout=5,
                       params={"query": 'sum(guardian_cloud_fleet_devices{status="healthy"})'}).json()
    return sum(int(float(r["value"][1])) for r in answer["data"]["result"])


def test_edge_offline_is_delivered_by_alertmanager_and_resolved(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(db)
    app = create_app(make_settings(db, auth.generate_private_key()))
    relay = add_relay(app, "relay-lab")
    webhook = Webhook()
    am_port, prom_port = free_port(), free_port()
    template = jinja2.Template((ROOT / "provisioning" / "templates" / "alertmanager.yml.j2").read_text(),
                               undefined=jinja2.StrictUndefined)
    (tmp_path / "alertmanager.yml").write_text(template.render(
        webhook_url=webhook.url, group_wait="0s", group_interval="1s", repeat_interval="1h"))
    rules_with_short_for(tmp_path / "rules.yml")
    with serve(app) as url, httpx.Client(base_url=url) as client:
        owner = signup(client, "owner@lab.example.org", tenant="Lab family", app=app)
        report(url, relay, status=1)  # healthy
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "guardian-cloud",
                                "static_configs": [{"targets": [url.removeprefix("http://")]}]}],
        }))
        prometheus = f"http://127.0.0.1:{prom_port}"
        with process([str(ALERTMANAGER), f"--config.file={tmp_path / 'alertmanager.yml'}",
                      f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                      "--cluster.listen-address="], f"http://127.0.0.1:{am_port}/-/ready"), \
             process(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                     f"{prometheus}/-/ready"):
            # Prometheus has seen the device healthy before it goes offline.
            deadline = time.monotonic() + 60
            while not healthy_devices(prometheus):
                assert time.monotonic() < deadline, "Prometheus never scraped the fleet gauges"
                time.sleep(0.2)

            went_offline = time.monotonic()
            report(url, relay, status=3)  # the relay reports the edge offline
            firing, delivered = webhook.next("firing", timeout=60)
            back = time.monotonic()
            report(url, relay, status=1)
            resolved, resolved_at = webhook.next("resolved", timeout=60)
    webhook.close()

    [alert] = firing["alerts"]
    assert alert["labels"] == {"alertname": "GuardianEdgeOffline", "severity": "warning",
                               "tenant": owner.tenant_id, "relay": relay.id, "device": DEVICE}
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#edge-offline"
    assert [a["labels"]["device"] for a in resolved["alerts"]] == [DEVICE]
    # Ids only: the tenant's name and the owner's e-mail are not in what the operator receives.
    sent = json.dumps([firing, resolved])
    assert "Lab family" not in sent and "owner@lab.example.org" not in sent
    print(f"\nedge offline report -> alert delivered: {delivered - went_offline:.1f} s "
          f"(scrape 1 s, evaluation 1 s, for 1 s, group_wait 0 s); "
          f"back -> resolved delivered: {resolved_at - back:.1f} s")
