"""The cloud deploy against a real target: PostgreSQL, the app (its API workers and its process for relay
calls), migrations, nginx routing between them, and Prometheus scraping both."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.provisioning.conftest import results
from tests.provisioning.targets import Lab

pytestmark = pytest.mark.slow


def test_cloud_deploy_answers_healthz_through_the_proxy(lab: Lab, releases: Callable[..., Path]) -> None:
    tar = releases("cloud")
    cloud = lab.add("cloud")
    lab.wait_ssh(cloud)
    lab.write_inventory({"cloud": [["cloud", {"cloud_public_name": "cloud.lab"}]]})
    env = {"GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(tar.parent),
           "GUARDIAN_APT_UPDATE": "0"}

    first = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env))
    assert first["results"]["totals"]["error"] == 0

    # Through nginx (TLS, self-signed here), from the host itself and from the controller's namespace.
    health = lab.ssh(cloud, "curl -sk --retry 30 --retry-delay 1 --retry-all-errors https://127.0.0.1/healthz")
    assert json.loads(health.stdout) == {"status": "ok"}
    assert lab.ssh(cloud, "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/healthz").stdout == "301"
    prom = lab.ssh(cloud, "curl -s --retry 10 --retry-delay 1 --retry-all-errors http://127.0.0.1:9090/api/v1/status/config")
    assert "guardian-cloud" in prom.stdout
    # The API runs as cloud_workers (2) processes under one supervisor; relay calls reach their own process.
    workers = lab.ssh(cloud, "systemctl show -p MainPID --value guardian-cloud.service").stdout.strip()
    spawned = lab.ssh(cloud, f"pgrep -P {workers} -f multiprocessing.spawn --count").stdout.strip()
    assert spawned == "2"
    assert lab.ssh(cloud, "systemctl is-active guardian-cloud-relay-api.service").stdout.strip() == "active"
    unsigned = lab.ssh(cloud, "curl -sk -o /dev/null -w '%{http_code}' -X POST https://127.0.0.1/api/v1/ingest").stdout
    assert unsigned == "401"
    logged = lab.ssh(cloud, "journalctl -o cat -u guardian-cloud-relay-api.service | grep -c '/api/v1/ingest'")
    assert int(logged.stdout.strip() or 0) >= 1
    # Prometheus answers before it has loaded its targets: ask until they are there (or 60 tries).
    scraped: set[str] = set()
    for _ in range(60):
        targets = lab.ssh(cloud, "curl -s --retry 30 --retry-delay 1 --retry-all-errors http://127.0.0.1:9090/api/v1/targets")
        scraped = {t["scrapeUrl"] for t in json.loads(targets.stdout)["data"]["activeTargets"]
                   if t["labels"]["job"] == "guardian-cloud"}
        if scraped:
            break
        time.sleep(1)
    assert scraped == {"http://127.0.0.1:8000/metrics", "http://127.0.0.1:8001/metrics"}
    migrated = lab.ssh(cloud, "ls -a /var/lib/guardian-cloud/").stdout
    assert ".migrated-0.1.0" in migrated

    second = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env))
    changed = [op["name"] for op in second["results"]["operations"] if op["success"] or op["error"]]
    assert changed == [], f"second run changed: {changed}"
    assert "Database schema migrated" not in json.dumps(second)  # migrations ran once
