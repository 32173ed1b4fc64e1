"""Per-camera thresholds chosen from the evaluation curves: below the edge's own, they still take effect; where
the config sets none, the active model family's own defaults apply."""

from __future__ import annotations

import threading

import numpy as np

from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.detection.camera_rules import CameraRules
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.pipeline import CameraPipeline, Job
from agents.edge.detection.types import InferenceResult
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.models.families import get_family
from agents.edge.tracking.types import Detection
from agents.edge.video.ingest import StreamOptions
from guardian.runtime.metrics import AgentMetrics
from tests.edge.detection.test_item_clock import NoMedia


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


def test_where_the_config_sets_no_threshold_the_active_models_family_gives_its_own():
    """CenterNet scores people lower than NanoDet (its 0.4 is NanoDet's 0.5, bench/detection_eval.py): with no
    threshold in edge.toml the family's defaults apply; a threshold the config does set wins."""
    centernet, nanodet = get_family("centernet"), get_family("nanodet")
    unset = DetectionSettings()
    assert unset.threshold_of("person", centernet) == 0.4 and unset.threshold_of("car", centernet) == 0.35
    assert unset.threshold_of("person", nanodet) == 0.5 and unset.threshold_of("person") == 0.5
    configured = DetectionSettings.model_validate({"threshold": 0.6, "thresholds": {"car": 0.5}})
    assert configured.threshold_of("person", centernet) == 0.6 and configured.threshold_of("car", centernet) == 0.5
    assert configured.threshold_of("truck", centernet) == 0.6  # the configured map replaces the family's


def test_a_camera_pipeline_applies_the_thresholds_of_the_model_it_was_given(tmp_path):
    """The pipeline filters a result by the family of the model that made it (set_model), as the detection
    service tells it at every model load or swap."""
    settings = DetectionSettings()
    _, sessions = open_database(tmp_path / "edge.db")
    events = EventManager("porch", EventStore(sessions), NoMedia(), tmp_path, "m@1", settings.events)
    metrics = DetectorMetrics(AgentMetrics("edge"))
    pipeline = CameraPipeline(CameraSettings(name="porch", record_url="rtsp://127.0.0.1:1/none"), settings, events,
                              lambda _size: None, metrics, threading.Event(), StreamOptions())
    person = Detection("person", 0.45, (0.1, 0.1, 0.3, 0.6))

    def kept(at: float) -> float:
        job = Job("porch", at, np.zeros((120, 160, 3), np.uint8))
        pipeline.on_result(job, InferenceResult([person], 0.05, job), at)
        return metrics.detections.labels("porch", "person")._value.get()

    pipeline.set_model("nanodet@1", get_family("nanodet"))
    assert kept(1_780_000_000.0) == 0  # under NanoDet's 0.5
    pipeline.set_model("centernet@1", get_family("centernet"))
    assert kept(1_780_000_001.0) == 1  # over CenterNet's 0.4
