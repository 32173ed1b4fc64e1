"""The uplink's scrape proxy (agents/edge/uplink/scrape_proxy.py) against a real Prometheus exporter
(prometheus_client's, as the agents serve): the agent's body goes through as sent (gzip too), a dead agent
is a 503 (the relay records up == 0 for it alone), unknown paths and other peers get nothing, and the
config refuses a target off loopback. The WireGuard lab test (tests/observability/test_fleet_metrics.py)
runs it in the uplink as shipped."""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from agents.edge.uplink.config import ScrapeProxySettings
from agents.edge.uplink.scrape_proxy import ScrapeProxy
from guardian.runtime.metrics import AgentMetrics, MetricsSettings, serve_metrics
from tests.conftest import free_port


@pytest.fixture
def proxy() -> Iterator[ScrapeProxy]:
    metrics = AgentMetrics("edge")
    metrics.gauge("outbox", "length", "Rows waiting.").set(7)
    exporter = serve_metrics(MetricsSettings(address="127.0.0.1", port=0), metrics)
    assert exporter is not None
    settings = ScrapeProxySettings(port=free_port(), timeout_s=2, targets={
        "uplink": f"http://127.0.0.1:{exporter.port}/metrics",
        "detector": f"http://127.0.0.1:{free_port()}/metrics",  # nothing listens: a dead agent
    })
    proxy = ScrapeProxy(settings, "127.0.0.1", allowed_peer="127.0.0.1")
    proxy.start()
    yield proxy
    proxy.close()
    exporter.close()


def get(proxy: ScrapeProxy, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_an_agents_metrics_go_through_as_sent(proxy: ScrapeProxy) -> None:
    status, headers, body = get(proxy, "/metrics/uplink")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"guardian_edge_outbox_length 7.0" in body
    status, headers, body = get(proxy, "/metrics/uplink", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert b"guardian_edge_outbox_length 7.0" in gzip.decompress(body)


def test_a_dead_agent_is_503_and_only_agents_paths_answer(proxy: ScrapeProxy) -> None:
    assert get(proxy, "/metrics/detector")[0] == 503
    assert get(proxy, "/metrics/uplink")[0] == 200  # the others are still served
    for path in ("/metrics/cloud", "/metrics", "/other/uplink", "/"):
        assert get(proxy, path)[0] == 404, path


def test_only_the_relay_is_answered(proxy: ScrapeProxy) -> None:
    proxy.allowed_peer = "10.77.0.1"  # the relay's tunnel address; this test calls from 127.0.0.1
    assert get(proxy, "/metrics/uplink")[0] == 403


@pytest.mark.parametrize("url", ["http://192.168.1.20:9464/metrics", "http://camera.local/metrics",
                                 "https://127.0.0.1:9464/metrics"])
def test_targets_must_be_plain_http_on_loopback(url: str) -> None:
    with pytest.raises(ValidationError):
        ScrapeProxySettings(targets={"recorder": url})
