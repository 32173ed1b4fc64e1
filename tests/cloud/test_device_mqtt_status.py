"""The device's MQTT connection on its page (issue #20): an edge told to trust another CA than the one that
signed its site broker's certificate cannot connect, and the cloud shows "failing" with the TLS reason.

A real Mosquitto with a TLS listener (tests/edge/mqtt), the edge's real MQTT link recording the state in its
database, the edge's config report, the relay's view of it for the cloud, and the cloud's ingest and API on
both databases. Then the broker's own CA: "connected", the error gone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nacl.public import PublicKey, SealedBox

from agents.edge.camera_config import mqtt_status, store
from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome, apply
from agents.edge.db import open_database
from agents.edge.mqtt.link import MqttLink
from agents.relay.config_reports import config_status
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.cloud.test_device_config import DEVICE, config_url, home, post_batch  # noqa: F401 (home: a fixture)
from tests.edge.mqtt.broker import PASSWORD, USER, WAIT_S, Mosquitto
from tests.edge.mqtt.test_tls import pki, tls_broker  # noqa: F401 (fixtures)


def _edge_with_mqtt(data: Path, port: int, ca_pem: str, version: int, sessions=None):
    """The edge's database with a desired config whose mqtt section asks for TLS to ``localhost`` with ``ca_pem``."""
    if sessions is None:
        _, sessions = open_database(data / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(data))
    sealed = SealedBox(PublicKey(key.public_key)).encrypt(PASSWORD.encode())
    mqtt = config_pb2.MqttConfig(enabled=True, host="localhost", port=port, username=USER, topic_prefix="site",
                                 password=config_pb2.SealedSecret(ciphertext=sealed, key_id=key.key_id),
                                 tls=True, ca_pem=ca_pem)
    camera = config_pb2.CameraConfig(name="porch", enabled=True, record=config_pb2.StreamSource(url="rtsp://192.0.2.10/s"))
    desired = config_pb2.DesiredConfig(device_id=DEVICE, version=version, cameras=[camera], mqtt=mqtt)
    assert apply(sessions, desired, key, DEVICE).outcome is Outcome.APPLIED
    return sessions, key


def _recorded(sessions, state: str) -> config_pb2.MqttStatus:
    """The state the edge's link records (from paho's thread) once the connection's outcome is known."""
    deadline = time.monotonic() + WAIT_S
    while (status := mqtt_status.read(sessions)) is None or status.state != state:
        assert time.monotonic() < deadline, f"the edge did not record {state!r}: {status}"
        time.sleep(0.02)
    return status


def _shown(client, relay, admin, sessions, key) -> Any:
    """The edge reports (as its uplink does), the relay forwards its view, the device page reads it back."""
    status, left_out = config_status(DEVICE, store.report(sessions, key))
    assert left_out == []
    post_batch(client, relay, config_status=[status])
    return client.get(config_url(), headers=admin.auth).json()["reported"]["mqtt"]


def test_a_broker_certificate_not_trusted_shows_failing_with_the_tls_reason(
        tmp_path: Path, pki: Path, tls_broker: Mosquitto, client, home) -> None:  # noqa: F811
    relay, admin = home
    assert client.get(config_url(), headers=admin.auth).json()["reported"]["mqtt"] is None  # nothing reported yet
    data = tmp_path / "edge"
    sessions, key = _edge_with_mqtt(data, tls_broker.tls_port, (pki / "other-ca.pem").read_text(), 1)
    link = MqttLink(sessions, KeySource(config_key_path(data)), ["person"], AgentMetrics("edge"))
    try:
        link.refresh()
        _recorded(sessions, "failing")
        shown = _shown(client, relay, admin, sessions, key)
        assert shown["state"] == "failing"
        assert shown["error"] == "the broker's certificate was refused: self-signed certificate in certificate chain"
        assert PASSWORD not in str(shown)

        # The site's own CA: the edge connects, and the page says so.
        _edge_with_mqtt(data, tls_broker.tls_port, (pki / "ca.pem").read_text(), 2, sessions)
        link.refresh()
        _recorded(sessions, "connected")
        assert _shown(client, relay, admin, sessions, key) == {"state": "connected", "error": ""}
    finally:
        link.close()
