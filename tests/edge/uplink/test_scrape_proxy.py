"""The uplink's scrape proxy (agents/edge/uplink/scrape_proxy.py) against a real Prometheus exporter
(prometheus_client's, as the agents serve): only the kept series go through (gzipped when asked), or the
agent's body as sent with the filter off; the relay's connection is kept between scrapes; a dead agent
is a 503 (the relay records up == 0 for it alone), unknown paths and other peers get nothing, and the
config refuses a target off loopback. Camera names never leave filtered: each ``camera`` label is an
opaque id (agents/edge/uplink/camera_ids.py), stable across restarts, different under another edge's
secret, and ``guardian-edge metrics camera-ids`` maps it back on the box. The WireGuard lab test
(tests/observability/test_fleet_metrics.py) runs it in the uplink as shipped."""

from __future__ import annotations

import gzip
import http.client
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from agents.edge.cli import main
from agents.edge.config import EdgeSettings
from agents.edge.db import database_path, open_database
from agents.edge.db.tables import Camera
from agents.edge.uplink.camera_ids import (
    camera_id,
    camera_id_key_path,
    load_or_create_key,
    pseudonymise_cameras,
)
from agents.edge.uplink.config import ScrapeProxySettings
from agents.edge.uplink.scrape_proxy import ScrapeProxy, keep_series
from demo import configs
from guardian.runtime.metrics import AgentMetrics, MetricsServer, MetricsSettings, serve_metrics
from tests.conftest import free_port

KEY = bytes(range(32))
# Config names are slugs, but the proxy must hold for any label value: quotes, backslashes, a newline.
CAMERAS = ("front_door", 'Bob\'s "garage" \\ side\ncam')
CAMERA_ID = re.compile(r"c-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def agents() -> Iterator[dict[str, str]]:
    """The agents' exporters (real prometheus_client ones), shared by the module's proxies: agent -> URL."""
    uplink = AgentMetrics("edge")
    uplink.gauge("outbox", "length", "Rows waiting.").set(7)
    # Series no rule reads: a counter and a histogram (labelled, as the agents' are).
    uplink.counter("uplink", "sent_total", "Messages sent.", ("kind",)).labels("event").inc(3)
    uplink.histogram("uplink", "ack_latency_seconds", "Ack latency.").observe(0.2)
    # The recorder's per-camera series, kept (rules read them) and not (a histogram), as it labels them.
    recorder = AgentMetrics("edge")
    streaming = recorder.gauge("video", "streaming", "1 while streaming.", ("camera",))
    segments = recorder.counter("video", "segments_total", "Segments.", ("camera",))
    writes = recorder.histogram("video", "segment_write_seconds", "Write time.", ("camera",))
    for number, name in enumerate(CAMERAS):
        streaming.labels(name).set(1)
        segments.labels(name).inc(number + 2)
        writes.labels(name).observe(0.1)
    servers = {"uplink": serve(uplink), "recorder": serve(recorder)}
    yield {agent: f"http://127.0.0.1:{server.port}/metrics" for agent, server in servers.items()}
    for server in servers.values():
        server.close()


def serve(metrics: AgentMetrics) -> MetricsServer:
    server = serve_metrics(MetricsSettings(address="127.0.0.1", port=0), metrics)
    assert server is not None  # enabled
    return server


def start_proxy(agents: dict[str, str], camera_key: bytes = KEY, **settings: Any) -> Iterator[ScrapeProxy]:
    proxy = ScrapeProxy(ScrapeProxySettings(port=free_port(), timeout_s=2, targets={
        **agents,
        "detector": f"http://127.0.0.1:{free_port()}/metrics",  # nothing listens: a dead agent
    }, **settings), "127.0.0.1", allowed_peer="127.0.0.1", camera_key=camera_key)
    proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture
def proxy(agents: dict[str, str]) -> Iterator[ScrapeProxy]:
    yield from start_proxy(agents)  # as shipped: filtered, kept alive


@pytest.fixture
def unfiltered(agents: dict[str, str]) -> Iterator[ScrapeProxy]:
    yield from start_proxy(agents, filter=False, idle_timeout_s=0)


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


def camera_labels(body: bytes) -> dict[str, dict[str, float]]:
    """Each series' camera label values and sample values, read with Prometheus' own parser."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if "camera" in sample.labels:
                found.setdefault(sample.name, {})[sample.labels["camera"]] = sample.value
    return found


def test_camera_names_never_reach_the_relay_only_their_ids(proxy: ScrapeProxy) -> None:
    status, _, body = get(proxy, "/metrics/recorder")
    assert status == 200
    ids = [camera_id(KEY, name) for name in CAMERAS]
    assert all(CAMERA_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(CAMERAS)
    assert camera_labels(body) == {
        "guardian_edge_video_streaming": {ids[0]: 1.0, ids[1]: 1.0},
        "guardian_edge_video_segments_total": {ids[0]: 2.0, ids[1]: 3.0},
    }
    for fragment in (b"front", b"door", b"Bob", b"garage", b"side", b"cam\""):
        assert fragment not in body, fragment
    status, _, zipped = get(proxy, "/metrics/recorder", **{"Accept-Encoding": "gzip"})
    assert status == 200 and gzip.decompress(zipped) == body


def test_camera_ids_are_stable_across_a_restart_and_differ_between_edges(
    agents: dict[str, str], tmp_path: Path
) -> None:
    def ids_served(key_file: Path) -> dict[str, float]:
        running = start_proxy(agents, camera_key=load_or_create_key(key_file))  # as the uplink starts it
        try:
            return camera_labels(get(next(running), "/metrics/recorder")[2])["guardian_edge_video_streaming"]
        finally:
            next(running, None)  # start_proxy's tear-down: the proxy closed

    key_file = tmp_path / "edge-a" / "camera-id.key"
    first = ids_served(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes()) == 32
    assert ids_served(key_file) == first  # the uplink restarted: the same key file, the same ids
    other_edge = ids_served(tmp_path / "edge-b" / "camera-id.key")
    assert len(first) == len(other_edge) == len(CAMERAS) and not set(first) & set(other_edge)


def test_unfiltered_camera_names_pass_as_sent(unfiltered: ScrapeProxy) -> None:
    status, _, body = get(unfiltered, "/metrics/recorder")
    assert status == 200
    assert set(camera_labels(body)["guardian_edge_video_streaming"]) == set(CAMERAS)


def test_pseudonymise_rewrites_only_the_camera_label_and_drops_what_it_cannot_parse() -> None:
    text = (
        "# TYPE g gauge\n"
        'g{kind="camera=\\"x\\"",camera="a\\\\b\\"c",zone="z"} 1.0\n'  # camera= inside another value
        'g{ camera = "front" , } 2.0 1700000000000\n'  # spaces and a trailing comma
        'g{camera="front"} 3.0\n'
        'g{camera="cut short} 4.0\n'  # unparsable: dropped, never passed
        "camera_free 5.0\n"
        'other{cameras="not the label"} 6.0\n'
    )
    a_b_c, front = camera_id(KEY, 'a\\b"c'), camera_id(KEY, "front")
    assert pseudonymise_cameras(text, KEY) == (
        "# TYPE g gauge\n"
        f'g{{kind="camera=\\"x\\"",camera="{a_b_c}",zone="z"}} 1.0\n'
        f'g{{camera="{front}",}} 2.0 1700000000000\n'
        f'g{{camera="{front}"}} 3.0\n'
        "camera_free 5.0\n"
        'other{cameras="not the label"} 6.0\n'
    )


def test_the_edge_command_maps_names_to_the_ids_the_relay_sees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configs.write_edge(tmp_path / "edge.toml", {
        "storage": {"data_dir": tmp_path / "data"},
        "cameras": [{"name": "front_door", "record_url": "rtsp://127.0.0.1:8554/front"}],
    })
    settings = EdgeSettings.model_validate({"storage": {"data_dir": tmp_path / "data"}})
    # A camera of the cloud's desired config lives in the cameras table only.
    engine, sessions = open_database(database_path(settings))
    with sessions.begin() as session:
        session.add(Camera(name="garage", record_url="rtsp://192.0.2.7/stream", source="desired"))
    engine.dispose()

    assert main(["metrics", "camera-ids", "-c", str(config)]) == 0
    # Run as root on the box, it leaves no database file the agents' user could not open (-wal, -shm).
    assert [p.name for p in database_path(settings).parent.glob("edge.db*")] == ["edge.db"]
    key = camera_id_key_path(settings).read_bytes()  # made by the command: the uplink will use the same
    assert capsys.readouterr().out == f"front_door\t{camera_id(key, 'front_door')}\ngarage\t{camera_id(key, 'garage')}\n"
    assert main(["metrics", "camera-ids", "-c", str(config), "porch"]) == 0
    assert capsys.readouterr().out == f"porch\t{camera_id(key, 'porch')}\n"


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
