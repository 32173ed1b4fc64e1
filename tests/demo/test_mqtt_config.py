"""The demo's MQTT (issue #20): the broker config the demo writes starts a real Mosquitto on loopback that
takes anonymous clients, and the ``mqtt`` section the demo saves as the device's desired config passes the
cloud's schema and points the edge's real publisher at it: ``guardian/#`` shows the edge online, as
``mosquitto_sub -t 'guardian/#' -v`` would. No demo stack is run."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from google.protobuf import json_format

from agents.edge.camera_config.cameras import KeySource
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.publisher import MqttPublisher
from agents.edge.mqtt.settings import broker_settings
from cloud.api.schemas import MqttConfigShape
from demo.stack import Ports, mosquitto_config, mqtt_section
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.broker import WAIT_S, Subscriber, free_port, mosquitto_binary


def test_the_demo_broker_takes_the_edge_with_the_section_the_demo_saves(tmp_path: Path) -> None:
    port = free_port()
    config = mosquitto_config(port, pwd.getpwuid(os.geteuid()).pw_name)
    assert f"listener {port} 127.0.0.1\n" in config  # loopback only: anonymous is for this machine alone
    (tmp_path / "mosquitto.conf").write_text(config)
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(tmp_path / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    publisher = None
    try:
        deadline = time.monotonic() + WAIT_S
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert broker.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.02)
        section = MqttConfigShape.model_validate(mqtt_section(port))  # as the cloud's API takes it
        desired = json_format.ParseDict(section.model_dump(exclude_none=True), config_pb2.MqttConfig())
        settings = broker_settings(desired, "dev-1", KeySource(tmp_path / "no-key"))
        assert settings is not None and settings.topic_prefix == "guardian" and not settings.password
        watcher = Subscriber(port, username="", password="")
        try:
            publisher = MqttPublisher(settings, {}, MqttMetrics.on(AgentMetrics("edge")))
            publisher.start()
            assert watcher.wait_for("guardian/guardian_dev-1/availability", lambda p: p == b"online")
        finally:
            watcher.close()
    finally:
        if publisher is not None:
            publisher.stop()
        broker.terminate()
        assert broker.wait(timeout=WAIT_S) == 0


def test_the_demo_broker_has_a_port_of_its_own() -> None:
    assert Ports().mqtt != 1883  # a broker the machine runs already keeps its port
    assert "MQTT broker" in Ports().named()
