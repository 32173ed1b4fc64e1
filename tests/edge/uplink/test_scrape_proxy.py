"""The uplink's scrape proxy (agents/edge/uplink/scrape_proxy.py) against a real Prometheus exporter
(prometheus_client's, as the agents serve): only the kept series go through (gzipped when asked), or the
agent's body as sent with the filter off; the relay's connection is kept between scrapes; a dead agent
is a 503 (the relay records up == 0 for it alone), unknown paths and other peers get nothing, and the
config refuses a target off loopback. The WireGuard lab test (tests/observability/test_fleet_metrics.py)
runs it in the uplink as shipped."""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from agents.edge.uplink.config import ScrapeProxySettings
from agents.edge.uplink.scrape_proxy import ScrapeProxy, keep_series
from guardian.runtime.metrics import AgentMetrics, MetricsSettings, serve_metrics
from tests.conftest import free_port


def start_proxy(**settings: Any) -> Iterator[ScrapeProxy]:
    metrics = AgentMetrics("edge")
    metrics.gauge("outbox", "length", "Rows waiting.").set(7)
    # Series no rule reads: a counter and a histogram (labelled, as the agents' are).
    metrics.counter("uplink", "sent_total", "Messages sent.", ("kind",)).labels("event").inc(3)
    metrics.histogram("uplink", "ack_latency_seconds", "Ack latency.").observe(0.2)
    exporter = serve_metrics(MetricsSettings(address="127.0.0.1", port=0), metrics)
    assert exporter is not None
    proxy = ScrapeProxy(ScrapeProxySettings(port=free_port(), timeout_s=2, targets={
        "uplink": f"http://127.0.0.1:{exporter.port}/metrics",
        "detector": f"http://127.0.0.1:{free_port()}/metrics",  # nothing listens: a dead agent
    }, **settings), "127.0.0.1", allowed_peer="127.0.0.1")
    proxy.start()
    yield proxy
    proxy.close()
    exporter.close()


@pytest.fixture
def proxy() -> Iterator[ScrapeProxy]:
    yield from start_proxy()  # as shipped: filtered, kept alive


@pytest.fixture
def unfiltered() -> Iterator[ScrapeProxy]:
    yield from start_proxy(filter=False, idle_timeout_s=0)


def get(proxy: ScrapeProxy, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_only_the_kept_series_go_to_the_relay(proxy: ScrapeProxy) -> None:
    status, headers, body = get(proxy, "/metrics/uplink")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert not {"Content-Encoding", "Server", "Date"} & set(headers)
    assert body == b"# TYPE guardian_edge_outbox_length gauge\nguardian_edge_outbox_length 7.0\n"
    # What Prometheus sends: it gets the same, gzipped.
    status, headers, zipped = get(proxy, "/metrics/uplink", **{
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        "Accept-Encoding": "gzip",
    })
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped) == body


def test_unfiltered_an_agents_metrics_go_through_as_sent(unfiltered: ScrapeProxy) -> None:
    status, headers, body = get(unfiltered, "/metrics/uplink")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"guardian_edge_outbox_length 7.0" in body and b'guardian_edge_uplink_sent_total{kind="event"} 3.0' in body
    status, headers, body = get(unfiltered, "/metrics/uplink", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert b"guardian_edge_outbox_length 7.0" in gzip.decompress(body)


def test_the_relays_connection_is_kept_between_scrapes(proxy: ScrapeProxy) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("GET", "/metrics/uplink")
            response = connection.getresponse()
            assert response.status == 200 and response.read()
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets == [sockets[0]] * 3  # one TCP connection for all three
    finally:
        connection.close()


def test_keep_series_keeps_the_named_samples_and_their_type_lines() -> None:
    text = (
        "# HELP a_total A.\n# TYPE a_total counter\na_total{kind=\"x\"} 1.0\n"
        "# HELP a_created A.\n# TYPE a_created gauge\na_created{kind=\"x\"} 1.7e+09\n"
        "# TYPE h histogram\nh_bucket{le=\"1.0\"} 2.0\nh_bucket{le=\"+Inf\"} 2.0\nh_count 2.0\nh_sum 0.5\n"
        "b 3.0\n"
    )
    kept = keep_series(text, frozenset({"a_total", "h_bucket"}))
    assert kept == ('# TYPE a_total counter\na_total{kind="x"} 1.0\n'
                    '# TYPE h histogram\nh_bucket{le="1.0"} 2.0\nh_bucket{le="+Inf"} 2.0\n')
    assert keep_series(text, frozenset()) == ""


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
