"""MQTT over TLS against a real Mosquitto with a TLS listener (certificates made here): the desired config's
CA is trusted and the edge publishes; a broker whose certificate another CA signed, or made for another host
name, is refused, and the publisher says why (last_error, a log line, the failures metric)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.public import PublicKey, SealedBox

from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome, apply
from agents.edge.db import open_database
from agents.edge.mqtt.link import MqttLink
from demo.pki import make_ca, make_server_cert
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.broker import PASSWORD, USER, WAIT_S, Mosquitto, Subscriber

DEVICE = "dev-1"
AVAILABILITY = "site/guardian_dev-1/availability"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The broker's CA and its certificate (for the name ``localhost`` only), and a CA that signed nothing."""
    where = tmp_path_factory.mktemp("pki")
    make_ca(where / "ca.pem", where / "ca.key", "Site CA")
    make_server_cert(where / "broker.pem", where / "broker.key", where / "ca.pem", where / "ca.key", "broker",
                     ips=(), dns=("localhost",))
    make_ca(where / "other-ca.pem", where / "other-ca.key", "Another CA")
    return where


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker", tls=(pki / "broker.pem", pki / "broker.key"))
    mosquitto.directory.mkdir()
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def _link(tmp_path: Path, host: str, port: int, ca_pem: str) -> tuple[MqttLink, AgentMetrics]:
    """An edge with a desired config whose mqtt section asks for TLS with ``ca_pem``, and its link."""
    _, sessions = open_database(tmp_path / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(tmp_path))
    sealed = SealedBox(PublicKey(key.public_key)).encrypt(PASSWORD.encode())
    mqtt = config_pb2.MqttConfig(enabled=True, host=host, port=port, username=USER, topic_prefix="site",
                                 password=config_pb2.SealedSecret(ciphertext=sealed, key_id=key.key_id),
                                 tls=True, ca_pem=ca_pem)
    camera = config_pb2.CameraConfig(name="porch", enabled=True, record=config_pb2.StreamSource(url="rtsp://192.0.2.10/s"))
    desired = config_pb2.DesiredConfig(device_id=DEVICE, version=1, cameras=[camera], mqtt=mqtt)
    assert apply(sessions, desired, key, DEVICE).outcome is Outcome.APPLIED
    metrics = AgentMetrics("edge")
    return MqttLink(sessions, KeySource(config_key_path(tmp_path)), ["person"], metrics), metrics


def _failures(metrics: AgentMetrics, reason: str) -> float:
    return metrics.registry.get_sample_value("guardian_edge_mqtt_connect_failures_total", {"reason": reason}) or 0.0


def _wait(condition) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_the_sites_ca_is_trusted_and_the_edge_publishes_over_tls(tmp_path, pki: Path, tls_broker: Mosquitto):
    subscriber = Subscriber(tls_broker.port)  # on the plain listener: what went through TLS arrives there
    link, metrics = _link(tmp_path, "localhost", tls_broker.tls_port, (pki / "ca.pem").read_text())
    link.refresh()
    try:
        assert link.publisher is not None and link.publisher.wait_connected(WAIT_S)
        assert subscriber.wait_for(AVAILABILITY, lambda p: p == b"online")
        assert subscriber.wait_for("site/guardian_dev-1/porch/person/state") == b"OFF"
        assert link.publisher.last_error is None and _failures(metrics, "certificate") == 0
    finally:
        link.close()
        subscriber.close()


@pytest.mark.parametrize(("host", "ca", "expected"), [
    ("localhost", "other-ca.pem", "self-signed certificate in certificate chain"),  # its CA not trusted
    ("127.0.0.1", "ca.pem", "IP address mismatch"),  # the right CA, but made for another name
])
def test_a_certificate_not_trusted_is_refused_and_said(tmp_path, pki: Path, tls_broker: Mosquitto,
                                                       host: str, ca: str, expected: str):
    link, metrics = _link(tmp_path, host, tls_broker.tls_port, (pki / ca).read_text())
    link.refresh()
    try:
        publisher = link.publisher
        assert publisher is not None
        _wait(lambda: _failures(metrics, "certificate") >= 1)
        assert not publisher.connected
        assert publisher.last_error is not None
        assert publisher.last_error.startswith("the broker's certificate was refused") and expected in publisher.last_error
    finally:
        link.close()


def test_a_ca_that_is_not_a_certificate_leaves_mqtt_off(tmp_path, tls_broker: Mosquitto):
    link, _ = _link(tmp_path, "localhost", tls_broker.tls_port, "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    link.refresh()
    assert link.publisher is None  # said in the log; detection goes on
    link.close()
