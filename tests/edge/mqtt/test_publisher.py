"""The edge's MQTT publisher against a real Mosquitto (with a user and password): Home Assistant
discovery, states following real events (event manager and tracker), occupancy, the snapshot image,
availability with the last will, reconnecting after a broker restart, and drops counted, never raised."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from nacl.public import PublicKey, SealedBox
from PIL import Image

from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome, apply
from agents.edge.db import open_database
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.mqtt.link import MqttLink
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.publisher import MqttPublisher
from agents.edge.mqtt.settings import BrokerSettings
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.broker import PASSWORD, USER, WAIT_S, Mosquitto, Subscriber

DEVICE = "dev-1"
NODE = "guardian_dev-1"
BASE = f"site/{NODE}"
AVAILABILITY = f"{BASE}/availability"
PERSON_CONFIG = f"homeassistant/binary_sensor/{NODE}/porch_person/config"


class JpegMedia:
    """Snapshots as the video side writes them: a real JPEG of the frame."""

    def snapshot(self, frame, box, snapshot: Path, thumbnail: Path) -> None:
        Image.fromarray(frame).save(snapshot, "JPEG")

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def _desired(key: ConfigKey, port: int, password: str = PASSWORD) -> config_pb2.DesiredConfig:
    sealed = SealedBox(PublicKey(key.public_key)).encrypt(password.encode())  # what the browser does
    camera = config_pb2.CameraConfig(name="porch", display_name="Front porch", enabled=True,
                                     record=config_pb2.StreamSource(url="rtsp://192.0.2.10/stream"),
                                     detection=config_pb2.DetectionConfig(labels=["person", "car"]))
    mqtt = config_pb2.MqttConfig(enabled=True, host="127.0.0.1", port=port, username=USER, topic_prefix="site",
                                 discovery=True, password=config_pb2.SealedSecret(ciphertext=sealed, key_id=key.key_id))
    return config_pb2.DesiredConfig(device_id=DEVICE, version=1, cameras=[camera], mqtt=mqtt)


def _edge(tmp_path: Path, port: int, password: str = PASSWORD):
    """An edge database with a desired config applied (a camera and the mqtt section), and its link."""
    _, sessions = open_database(tmp_path / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(tmp_path))
    assert apply(sessions, _desired(key, port, password), key, DEVICE).outcome is Outcome.APPLIED
    metrics = AgentMetrics("edge")
    link = MqttLink(sessions, KeySource(config_key_path(tmp_path)), ["person"], metrics)
    return sessions, link, metrics


def _value(metrics: AgentMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(f"guardian_edge_mqtt_{name}", labels or None)
    return value or 0.0


def test_discovery_states_occupancy_and_snapshot_follow_real_events(tmp_path, broker: Mosquitto, subscriber: Subscriber):
    sessions, link, metrics = _edge(tmp_path, broker.port)
    link.refresh()
    try:
        assert subscriber.wait_for(AVAILABILITY, lambda p: p == b"online")
        # Discovery: retained, valid JSON, the entities Home Assistant needs.
        config = json.loads(subscriber.wait_for(PERSON_CONFIG))
        assert config["unique_id"] == f"{NODE}_porch_person"
        assert config["state_topic"] == f"{BASE}/porch/person/state"
        assert config["availability_topic"] == AVAILABILITY
        assert config["device"]["name"] == "Front porch" and config["device"]["identifiers"] == [f"{NODE}_porch"]
        assert json.loads(subscriber.wait_for(f"homeassistant/binary_sensor/{NODE}/porch_car/config"))
        image = json.loads(subscriber.wait_for(f"homeassistant/image/{NODE}/porch_snapshot/config"))
        assert image["image_topic"] == f"{BASE}/porch/snapshot" and image["content_type"] == "image/jpeg"
        assert subscriber.wait_for(f"{BASE}/porch/person/state") == b"OFF"

        # Two people walk in (a real tracker and event manager, the detector's results fed by hand).
        manager = EventManager("porch", EventStore(sessions), JpegMedia(), tmp_path, "m@1", deferred=True)
        manager.observer = link
        tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
        frame = np.full((48, 64, 3), 200, dtype=np.uint8)
        people = [Detection("person", 0.9, (0.1, 0.1, 0.3, 0.6)), Detection("person", 0.8, (0.6, 0.1, 0.8, 0.6))]
        t0 = 1_780_000_000.0
        mark = len(subscriber.messages)
        manager.handle(tracker.update(people, t0), frame, t0)
        manager.handle(tracker.update(people, t0 + 0.2), frame, t0 + 0.2)
        started = json.loads(subscriber.wait_for(f"{BASE}/events", lambda p: json.loads(p)["type"] == "start", mark))
        assert started["event"]["camera"] == "porch" and started["event"]["camera_name"] == "Front porch"
        assert started["event"]["label"] == "person" and started["event"]["end"] is None
        assert subscriber.wait_for(f"{BASE}/porch/person/state", lambda p: p == b"ON", mark)
        assert subscriber.wait_for(f"{BASE}/porch/person/count", lambda p: p == b"2", mark)
        assert json.loads(subscriber.wait_for(f"{BASE}/porch/occupancy", lambda p: b"2" in p, mark)) == {"person": 2}

        # They leave: the events end, the sensor goes off, the snapshot is the JPEG the event wrote.
        mark = len(subscriber.messages)
        manager.handle(tracker.update([], t0 + 3.0), frame, t0 + 3.0)
        ended = json.loads(subscriber.wait_for(f"{BASE}/events", lambda p: json.loads(p)["type"] == "end", mark))
        assert ended["event"]["end"] is not None and ended["event"]["has_snapshot"]
        assert subscriber.wait_for(f"{BASE}/porch/person/count", lambda p: p == b"0", mark)
        assert subscriber.wait_for(f"{BASE}/porch/person/state", lambda p: p == b"OFF", mark)
        jpeg = subscriber.wait_for(f"{BASE}/porch/snapshot", after=mark)
        assert jpeg[:3] == b"\xff\xd8\xff"
        (row,) = [r for r in manager.take_unsaved() if r.id == ended["event"]["id"]]
        assert jpeg == (tmp_path / row.snapshot_ref).read_bytes()
        assert _value(metrics, "connected") == 1
    finally:
        link.close()
    # A clean stop says so (the will is for a crash).
    assert subscriber.wait_for(AVAILABILITY, lambda p: p == b"offline")
    assert _value(metrics, "messages_dropped_total", reason="queue_full") == 0


def test_the_broker_refuses_a_wrong_password_and_events_are_dropped_not_raised(tmp_path, broker: Mosquitto):
    sessions, link, metrics = _edge(tmp_path, broker.port, password="not-the-password")
    link.refresh()
    try:
        publisher = link.publisher
        assert publisher is not None
        manager = EventManager("porch", EventStore(sessions), JpegMedia(), tmp_path, "m@1", deferred=True)
        manager.observer = link
        tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
        frame = np.zeros((48, 64, 3), dtype=np.uint8)
        person = [Detection("person", 0.9, (0.1, 0.1, 0.3, 0.6))]
        for i in range(3):
            manager.handle(tracker.update(person, 1_780_000_000.0 + i * 0.2), frame, 1_780_000_000.0 + i * 0.2)
        assert len(manager.open) == 1  # detection went on
        _wait(lambda: _value(metrics, "messages_dropped_total", reason="disconnected") >= 1)
        assert not publisher.connected and _value(metrics, "connects_total") == 0
    finally:
        link.close()


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path):
    metrics = AgentMetrics("edge")
    broker = BrokerSettings("127.0.0.1", 1, "", "", "site", True, False, NODE)
    publisher = MqttPublisher(broker, {}, MqttMetrics.on(metrics), queue_size=2)  # not started: nothing drains it
    _, sessions = open_database(tmp_path / "edge.db")
    manager = EventManager("porch", EventStore(sessions), JpegMedia(), tmp_path, "m@1", deferred=True)
    manager.observer = publisher
    tracker = Tracker(TrackingSection(confirm_hits=1, end_after_s=1.0))
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    people = [Detection("person", 0.9, (0.05 + 0.2 * i, 0.1, 0.15 + 0.2 * i, 0.6)) for i in range(4)]
    manager.handle(tracker.update(people, 1_780_000_000.0), frame, 1_780_000_000.0)
    assert len(manager.open) == 4
    # 8 notices: each event's start and its review item's (new, then 3 updates as events join); 2 fit.
    assert _value(metrics, "messages_dropped_total", reason="queue_full") == 6


def test_availability_goes_offline_when_the_process_is_killed(tmp_path, broker: Mosquitto, subscriber: Subscriber):
    env = {**os.environ, "MQTT_PORT": str(broker.port), "MQTT_PASSWORD": PASSWORD}
    process = subprocess.Popen([sys.executable, "-m", "tests.edge.mqtt.run_publisher"], env=env,
                               stdout=subprocess.PIPE, cwd=Path(__file__).parents[3])
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"connected\n"  # or b"": it could not connect, and exited
        mark = len(subscriber.messages)
        assert subscriber.wait_for(AVAILABILITY, lambda p: p == b"online")
        process.send_signal(signal.SIGKILL)  # no goodbye: the broker sends the will
        process.wait(timeout=WAIT_S)
        assert subscriber.wait_for(AVAILABILITY, lambda p: p == b"offline", mark)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_restarted_broker_gets_discovery_and_states_again(tmp_path, broker: Mosquitto):
    _, link, metrics = _edge(tmp_path, broker.port)
    link.refresh()
    try:
        first = Subscriber(broker.port)
        assert first.wait_for(PERSON_CONFIG)
        first.close()
        _wait(lambda: _value(metrics, "connects_total") == 1)
        broker.stop()  # no persistence: every retained message is gone
        _wait(lambda: _value(metrics, "connected") == 0)
        broker.start()
        _wait(lambda: _value(metrics, "connects_total") == 2)
        again = Subscriber(broker.port)
        try:
            assert json.loads(again.wait_for(PERSON_CONFIG))["unique_id"] == f"{NODE}_porch_person"
            assert again.wait_for(AVAILABILITY) == b"online"
            assert again.wait_for(f"{BASE}/porch/person/state") == b"OFF"
        finally:
            again.close()
    finally:
        link.close()


def _wait(condition) -> None:
    """Poll a metric until ``condition`` holds (the publisher's threads set them)."""
    import time

    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
