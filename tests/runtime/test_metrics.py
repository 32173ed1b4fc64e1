"""/metrics is served where configured, follows the naming convention, and a real Prometheus scrapes it."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardian.runtime.metrics import AgentMetrics, MetricsSettings, check_names, serve_metrics
from tests.runtime.conftest import free_port


@pytest.fixture
def served():
    metrics = AgentMetrics("testagent")
    packets = metrics.counter("ingest", "packets_total", "Packets read.", ("camera",))
    latency = metrics.histogram("ingest", "write_seconds", "Segment write latency.")
    packets.labels(camera="front").inc(42)
    latency.observe(0.01)
    server = serve_metrics(MetricsSettings(address="127.0.0.1", port=0), metrics)
    assert server is not None
    yield metrics, server
    server.close()


def test_scrape_over_http_follows_naming_convention(served):
    metrics, server = served
    body = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    assert 'guardian_testagent_ingest_packets_total{camera="front"} 42.0' in body
    assert "guardian_testagent_ingest_write_seconds_bucket" in body
    assert check_names(metrics) == []
    # Only the agent's own registry: no default process/python collectors mixed in under other names.
    assert "python_gc_objects_collected_total" not in body


def test_disabled_metrics_serve_nothing():
    assert serve_metrics(MetricsSettings(enabled=False), AgentMetrics("x")) is None


def test_bad_metrics_address_is_refused():
    with pytest.raises(ValueError):
        MetricsSettings(address="not-an-ip")


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus not installed (scripts/setup.sh)")
def test_real_prometheus_scrapes_and_answers_queries(served, tmp_path: Path):
    _, server = served
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: guardian-test
    static_configs:
      - targets: ["127.0.0.1:{server.port}"]
"""
    )
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not result:
            time.sleep(0.5)
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query",
                    params={"query": 'guardian_testagent_ingest_packets_total{camera="front"}'},
                    timeout=2,
                ).json()
            except httpx.HTTPError:
                continue
            result = answer["data"]["result"]
        assert result, "Prometheus never returned the scraped series"
        assert float(result[0]["value"][1]) == 42.0
        assert result[0]["metric"]["job"] == "guardian-test"
        targets = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=2).json()
        assert targets["data"]["activeTargets"][0]["health"] == "up"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
