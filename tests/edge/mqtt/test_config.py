"""The desired config's ``mqtt`` section on the edge: a bad section refuses the version as a whole (no
camera changes), a password that cannot be opened leaves MQTT off and detection untouched."""

from __future__ import annotations

from nacl.public import PrivateKey, PublicKey, SealedBox

from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome, apply, current_version
from agents.edge.db import open_database
from agents.edge.mqtt.link import MqttLink
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics

DEVICE = "dev-1"


def _desired(version: int, mqtt: config_pb2.MqttConfig) -> config_pb2.DesiredConfig:
    camera = config_pb2.CameraConfig(name="porch", enabled=True, record=config_pb2.StreamSource(url="rtsp://192.0.2.10/s"))
    return config_pb2.DesiredConfig(device_id=DEVICE, version=version, cameras=[camera], mqtt=mqtt)


def test_a_bad_mqtt_section_refuses_the_version(tmp_path):
    _, sessions = open_database(tmp_path / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(tmp_path))
    for bad in (config_pb2.MqttConfig(enabled=True, host=""), config_pb2.MqttConfig(enabled=True, host="a b"),
                config_pb2.MqttConfig(enabled=True, host="broker", port=70000),
                config_pb2.MqttConfig(enabled=True, host="broker", topic_prefix="home/#")):
        result = apply(sessions, _desired(1, bad), key, DEVICE)
        assert result.outcome is Outcome.REFUSED and result.reason.startswith("mqtt: ")
    assert current_version(sessions) == 0
    good = config_pb2.MqttConfig(enabled=True, host="broker.lan", port=1883, topic_prefix="home/guardian")
    assert apply(sessions, _desired(1, good), key, DEVICE).outcome is Outcome.APPLIED


def test_a_password_sealed_to_another_key_leaves_mqtt_off(tmp_path):
    _, sessions = open_database(tmp_path / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(tmp_path))
    other = SealedBox(PublicKey(bytes(PrivateKey.generate().public_key))).encrypt(b"pw")
    mqtt = config_pb2.MqttConfig(enabled=True, host="127.0.0.1", port=1, username="u",
                                 password=config_pb2.SealedSecret(ciphertext=other, key_id=key.key_id))
    assert apply(sessions, _desired(1, mqtt), key, DEVICE).outcome is Outcome.APPLIED  # the cameras apply
    link = MqttLink(sessions, KeySource(config_key_path(tmp_path)), ["person"], AgentMetrics("edge"))
    link.refresh()
    assert link.publisher is None
    # Turned off in a later version: still nothing, and nothing to stop.
    assert apply(sessions, _desired(2, config_pb2.MqttConfig(enabled=False)), key, DEVICE).outcome is Outcome.APPLIED
    link.refresh()
    assert link.publisher is None
    link.close()
