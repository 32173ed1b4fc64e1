"""Per-camera thresholds chosen from the evaluation curves: below the edge's own, they still take effect."""

from __future__ import annotations

from agents.edge.detection.camera_rules import CameraRules
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.tracking.types import Detection


def test_a_camera_threshold_below_the_edges_lets_its_detections_through(model_store, astronaut_bgr):
    """The edge asks 0.9 of a person (the astronaut scores ~0.8); a camera whose curve suggested 0.5 gets
    her, a camera without a threshold of its own does not: the service's detector keeps scores down to
    the cameras' floor and each camera's rules apply its own threshold or the edge's."""
    edge = DetectionSettings(threshold=0.9, thresholds={}, camera_threshold_floor=0.4)
    stored = model_store.get("nanodet")
    detector = Detector(stored, model_store.load(stored, smoke=False), num_requests=1, filters=edge.for_cameras())
    found = detector.detect(astronaut_bgr)
    tuned = CameraRules(thresholds=(("person", 0.5),))
    assert [d.label for d in tuned.apply(found, edge.default_labels, edge.threshold_of)] == ["person"]
    assert CameraRules().apply(found, edge.default_labels, edge.threshold_of) == []


def test_the_edges_per_label_thresholds_apply_to_cameras_without_their_own():
    edge = DetectionSettings()  # person 0.5, vehicles 0.35
    found = [Detection("person", 0.45, (0.1, 0.1, 0.3, 0.6)), Detection("car", 0.4, (0.5, 0.5, 0.9, 0.9)),
             Detection("person", 0.7, (0.4, 0.1, 0.5, 0.6))]
    kept = CameraRules().apply(found, edge.default_labels, edge.threshold_of)
    assert [(d.label, d.score) for d in kept] == [("car", 0.4), ("person", 0.7)]
    # A camera's own threshold wins in either direction.
    strict = CameraRules(thresholds=(("car", 0.6), ("person", 0.4)))
    assert [(d.label, d.score) for d in strict.apply(found, edge.default_labels, edge.threshold_of)] == \
        [("person", 0.45), ("person", 0.7)]
    assert edge.for_cameras().min_score == 0.3 and edge.for_cameras().thresholds == {}
