"""Severity on the edge (issue #20): per camera, a person or vehicle that stands in one of its alert zones
makes its event an alert, the rest are detections. Through the real event manager, store and outbox (SQLite),
then the relay's summary for the cloud: the severity goes up as an enum, nothing else is added."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
from google.protobuf.json_format import MessageToJson

from agents.edge.db import open_database
from agents.edge.detection.camera_rules import CameraRules
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore, to_proto
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from agents.relay.db.tables import CachedEvent
from agents.relay.forwarder import summarise
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2, uplink_pb2

_FRAME = np.zeros((48, 64, 3), np.uint8)
T0 = 1_780_000_000.0


def _zone(name: str, x0: float, x1: float) -> config_pb2.Polygon:
    return config_pb2.Polygon(name=name, points=[config_pb2.Point(x=x, y=y) for x, y in
                                                 ((x0, 0.0), (x1, 0.0), (x1, 1.0), (x0, 1.0))])


# The left half is the street (a zone, not an alert), the right half the driveway (an alert zone).
RULES = CameraRules.from_json("front", MessageToJson(config_pb2.DetectionConfig(
    zones=[_zone("street", 0.0, 0.5), _zone("driveway", 0.5, 1.0)], alert_zones=["driveway"]), indent=None))


class _NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def test_the_rule_alerts_on_people_and_vehicles_in_alert_zones_only() -> None:
    assert RULES.severity("person", ["street", "driveway"]) == "alert"
    assert RULES.severity("truck", ["driveway"]) == "alert"  # every vehicle label, as the tracker's vehicle kind
    assert RULES.severity("person", ["street"]) == "detection"
    assert RULES.severity("dog", ["driveway"]) == "detection"
    assert CameraRules().severity("person", ["driveway"]) == "detection"  # no alert zones: detections only


def test_a_camera_with_alert_labels_alerts_on_those_only() -> None:
    rules = CameraRules.from_json("front", MessageToJson(config_pb2.DetectionConfig(
        zones=[_zone("driveway", 0.5, 1.0)], alert_zones=["driveway"], alert_labels=["dog", "car"]), indent=None))
    assert rules.severity("dog", ["driveway"]) == "alert"
    assert rules.severity("truck", ["driveway"]) == "alert"  # "car" stands for every vehicle: labels flip
    assert rules.severity("person", ["driveway"]) == "detection"  # not one of them
    assert rules.severity("dog", []) == "detection"  # only in an alert zone


def test_alert_labels_make_the_events_alerts_through_the_event_manager(tmp_path) -> None:
    rules = CameraRules.from_json("front", MessageToJson(config_pb2.DetectionConfig(
        zones=[_zone("driveway", 0.5, 1.0)], alert_zones=["driveway"], alert_labels=["dog"]), indent=None))
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        manager = EventManager("front", EventStore(sessions), _NoMedia(), tmp_path, "m@1")
        manager.zones_at, manager.severity_of = rules.zones_at, rules.severity
        _walk(manager, "dog", [0.6 + 0.01 * i for i in range(10)])
        _walk(manager, "person", [0.6 + 0.01 * i for i in range(10)])
        rows = EventStore(sessions).query(camera="front")
    finally:
        engine.dispose()
    assert sorted((e.label, e.severity) for e in rows) == [("dog", "alert"), ("person", "detection")]


def _walk(manager: EventManager, label: str, xs: list[float], change_rules_at: int | None = None) -> None:
    """One object at these x positions, 5 frames a second, then its track ends; the rules say nothing but
    detection from frame ``change_rules_at`` on."""
    tracker = Tracker()
    for i, x in enumerate(xs):
        if i == change_rules_at:
            manager.severity_of = lambda label, zones: "detection"
        now = T0 + i / 5
        manager.handle(tracker.update([Detection(label, 0.8, (x, 0.3, x + 0.06, 0.6))], now), _FRAME, now)
    manager.shutdown(tracker.flush(), T0 + len(xs) / 5 + 1)


def test_an_event_becomes_an_alert_when_its_object_enters_an_alert_zone_and_stays_one(tmp_path) -> None:
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        manager = EventManager("front", EventStore(sessions), _NoMedia(), tmp_path, "m@1")
        manager.zones_at = RULES.zones_at
        manager.severity_of = RULES.severity
        _walk(manager, "person", [0.05 + 0.03 * i for i in range(25)])  # street → driveway
        _walk(manager, "dog", [0.6 + 0.01 * i for i in range(10)])  # driveway, but not a person or vehicle
        _walk(manager, "car", [0.1 + 0.01 * i for i in range(10)])  # street only
        # A van parked in the driveway for 14 s (stored as an alert at once), while the camera's alert
        # zones are removed: the alert already sent is not demoted.
        manager.severity_of = RULES.severity
        _walk(manager, "truck", [0.8] * 70, change_rules_at=60)
        rows = EventStore(sessions).query(camera="front")
        assert sorted((e.label, json.loads(e.zones_json), e.severity) for e in rows) == [
            ("car", ["street"], "detection"),
            ("dog", ["driveway"], "detection"),
            ("person", ["street", "driveway"], "alert"),
            ("truck", ["driveway"], "alert"),
        ]
    finally:
        engine.dispose()


def test_the_severity_reaches_the_cloud_summary_and_nothing_more(tmp_path) -> None:
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        manager = EventManager("front", EventStore(sessions), _NoMedia(), tmp_path, "m@1")
        manager.zones_at = RULES.zones_at
        manager.severity_of = RULES.severity
        _walk(manager, "person", [0.7] * 10)
        (row,) = EventStore(sessions).query(camera="front")
    finally:
        engine.dispose()
    sent = to_proto(row)
    assert sent.severity == uplink_pb2.SEVERITY_ALERT
    start = datetime.fromtimestamp(T0, UTC)
    cached = CachedEvent(event_id=row.id, device_id="edge-1", camera="front", label="person", start=start,
                         end=start + timedelta(seconds=2), max_score=0.8, clip_ref="", payload=sent.SerializeToString())
    summary = summarise(cached)
    assert summary.severity == ingest_pb2.SEVERITY_ALERT
    assert list(summary.zones) == ["driveway"]
    # An edge from before severity (unset) is a detection to the cloud.
    sent.ClearField("severity")
    cached.payload = sent.SerializeToString()
    assert summarise(cached).severity == ingest_pb2.SEVERITY_DETECTION


def test_the_edge_refuses_a_camera_whose_alert_zone_is_not_one_of_its_zones() -> None:
    from agents.edge.camera_config.validation import check
    from tests.edge.camera_config.helpers import DEVICE, camera, desired

    def plan(alert_zones: list[str]):
        detection = config_pb2.DetectionConfig(zones=[_zone("driveway", 0.5, 1.0)], alert_zones=alert_zones)
        (checked,) = check(desired(1, camera("front", "rtsp://10.0.0.7/main", detection=detection)), None, DEVICE).cameras
        return checked

    assert plan(["driveway"]).error is None
    assert plan(["street"]).error == "alert zone 'street' is not one of the camera's zones"


def test_the_edge_refuses_an_alert_label_it_cannot_hold() -> None:
    from agents.edge.camera_config.validation import check
    from tests.edge.camera_config.helpers import DEVICE, camera, desired

    detection = config_pb2.DetectionConfig(alert_labels=["x" * 33])
    (checked,) = check(desired(1, camera("front", "rtsp://10.0.0.7/main", detection=detection)), None, DEVICE).cameras
    assert checked.error == "detection labels must be 1 to 32 characters"
