"""Review items on the LAN's MQTT broker (issue #20): a walker seen by the real tracker, camera rules (zones,
an alert zone) and event manager makes one ``new`` on ``<prefix>/<node>/reviews``, ``update``s as it enters
zones and turns into an alert, and one ``end`` once nothing has moved for the item's gap — all on the same
item id, received by a subscriber of a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from google.protobuf.json_format import MessageToJson

from agents.edge.detection.camera_rules import CameraRules
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import GAP_S
from agents.edge.events.store import EventStore
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from guardian.contracts.edge.v1 import config_pb2
from tests.edge.mqtt.broker import Mosquitto, Subscriber
from tests.edge.mqtt.test_publisher import BASE, JpegMedia, _edge

REVIEWS = f"{BASE}/reviews"
T0 = 1_780_000_000.0


def _rules() -> CameraRules:
    """The porch's rules as the desired config stores them: a path on the left, the door (alerting) right."""
    def square(name: str, x0: float, x1: float) -> config_pb2.Polygon:
        return config_pb2.Polygon(name=name, points=[config_pb2.Point(x=x, y=y) for x, y in
                                                     ((x0, 0.0), (x1, 0.0), (x1, 1.0), (x0, 1.0))])
    detection = config_pb2.DetectionConfig(zones=[square("path", 0.0, 0.4), square("door", 0.6, 1.0)],
                                           alert_zones=["door"])
    return CameraRules.from_json("porch", MessageToJson(detection))


def test_a_walker_makes_one_item_new_updates_and_one_end(tmp_path: Path, broker: Mosquitto, subscriber: Subscriber):
    sessions, link, _ = _edge(tmp_path, broker.port)
    link.refresh()
    try:
        assert link.publisher is not None and link.publisher.wait_connected(15)
        rules = _rules()
        manager = EventManager("porch", EventStore(sessions), JpegMedia(), tmp_path, "m@1", deferred=True)
        manager.observer = link
        manager.zones_at, manager.severity_of = rules.zones_at, rules.severity
        tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
        frame = np.full((48, 64, 3), 200, dtype=np.uint8)
        mark = len(subscriber.messages)
        # Walks from the path across the middle to the door, 0.05 of the picture per frame (5 frames/s).
        for i in range(16):
            x, t = 0.1 + 0.05 * i, T0 + i * 0.2
            manager.handle(tracker.update([Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8))], t), frame, t)
        last = T0 + 15 * 0.2
        manager.handle(tracker.update([], last + 1.5), frame, last + 1.5)  # gone: the event ends
        manager.tick(last + GAP_S / 2)  # not yet: someone may still join the activity
        manager.tick(last + GAP_S + 0.5)  # nothing for the gap: the item ends
        ended = json.loads(subscriber.wait_for(REVIEWS, lambda p: json.loads(p)["type"] == "end", mark))
        event = json.loads(subscriber.wait_for(f"{BASE}/events", lambda p: json.loads(p)["type"] == "end", mark))
        received = [json.loads(p) for topic, p, _, _ in subscriber.messages[mark:] if topic == REVIEWS]
        # While open, the item is kept on the broker (for a restarted detector to end it); its end clears it.
        opened = f"{REVIEWS}/open/{ended['item']['id']}"
        assert json.loads(subscriber.wait_for(opened, bool, mark))["id"] == ended["item"]["id"]
        assert subscriber.wait_for(opened, lambda p: p == b"", mark) == b""
    finally:
        link.close()
    kinds = [m["type"] for m in received]
    assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == kinds.count("end") == 1
    assert kinds.count("update") >= 1
    assert {m["item"]["id"] for m in received} == {ended["item"]["id"]}
    first = received[0]["item"]
    assert first["zones"] == ["path"] and first["severity"] == "detection" and first["end"] is None
    item = ended["item"]
    assert item["camera"] == "porch" and item["camera_name"] == "Front porch" and item["labels"] == ["person"]
    assert item["zones"] == ["path", "door"] and item["severity"] == "alert"  # the door is an alert zone
    assert item["events"] == [event["event"]["id"]]
    assert item["start"] == event["event"]["start"] and item["end"] is not None
    assert not any(m["item"]["end"] for m in received[:-1])
    # The cloud's side gets the same item id with the event (review_item), nothing of this message.
    (row,) = [r for r in manager.take_unsaved() if r.id == event["event"]["id"]]
    assert row.review_item == item["id"]
