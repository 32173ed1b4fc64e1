"""The labels a camera owner can pick (every one the cloud offers: train, motorcycle, bicycle, dog, cat…)
pass the detector's filter, and reach only the cameras that pick them; a camera without a selection keeps
to the edge's default labels."""

from __future__ import annotations

import time
from typing import get_args

import numpy as np
from skimage import data

from agents.edge.camera_config import store
from agents.edge.config import EdgeSettings
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.graph_post import NOT_WANTED, label_limits
from agents.edge.detection.service import DetectionService
from agents.edge.models.labels import COCO80
from cloud.api.schemas import DetectionLabel
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.edge.camera_config.helpers import DEVICE, camera, desired


def limits(settings: DetectionSettings) -> dict[str, float]:
    # The last entry is for class ids past the labels.
    return dict(zip(COCO80, label_limits(COCO80, settings).tolist()[:-1], strict=True))


def test_default_labels_keep_trains_as_vehicles() -> None:
    """NanoDet scores some buses as "train": by default that label becomes an event, at the vehicles' threshold."""
    got = limits(DetectionSettings())
    assert got["train"] == got["bus"] == got["car"] == got["truck"] < 0.5
    assert got["person"] == 0.5
    assert got["dog"] == 0.5  # reported, for the cameras that pick it (the others keep to the default labels)
    assert got["toilet"] == NOT_WANTED  # nothing a camera owner can pick


def test_selected_labels_pass_and_others_do_not() -> None:
    chosen = ["train", "motorcycle", "bicycle", "dog", "cat"]
    got = limits(DetectionSettings(labels=chosen, selectable_labels=[], thresholds={"dog": 0.4}))
    assert {n for n, v in got.items() if v < NOT_WANTED} == set(chosen)
    assert got["dog"] < got["cat"] == 0.5


def test_every_label_the_cloud_offers_is_reported_by_the_edges_detector() -> None:
    """What a camera owner can pick in the web UI (the cloud's DetectionLabel) passes the detector's filter."""
    offered = set(get_args(DetectionLabel))
    settings = DetectionSettings()
    assert settings.wanted_labels is not None and offered <= settings.wanted_labels
    assert {"motorcycle", "bicycle", "dog", "cat", "train"} <= offered


def test_a_selectable_label_reaches_only_the_cameras_that_ask_for_it(model_store, tmp_path) -> None:
    """The real service, two cameras fed the same photo of a cat (NanoDet scores it ~0.17, so the edge's
    cat threshold is lowered for the test): the camera that picks "cat" gets a cat event, the camera
    without a selection keeps to the edge's default labels and gets none."""
    settings = EdgeSettings(
        storage={"data_dir": tmp_path / "data"}, models={"store_dir": model_store.root},
        detection={"thresholds": {"cat": 0.15}, "tracking": {"confirm_hits": 1}},
        cameras=[{"name": "front", "record_url": "rtsp://127.0.0.1:9/unused"}],
    )
    service = DetectionService(settings, AgentMetrics("edge"), media=NoFiles())
    url = "rtsp://127.0.0.1:9/unused"
    config = desired(1, camera("yard", url),
                     camera("pets", url, detection=config_pb2.DetectionConfig(labels=["cat"])))
    assert store.apply(service.sessions, config, None, DEVICE).outcome is store.Outcome.APPLIED
    service.reload_cameras()
    service.start(readers=False)
    cat = np.ascontiguousarray(data.chelsea()[:, :, ::-1])
    origin = time.time()
    try:
        for name in ("yard", "pets"):
            for i in range(3):
                service.pipelines[name].process(cat, origin + i / 5, block=True)
        assert service.detector is not None
        service.detector.wait()
    finally:
        service.stop()
    assert {e.label for e in service.event_store.query(camera="pets")} == {"cat"}
    assert service.event_store.query(camera="yard") == []


class NoFiles:
    def snapshot(self, frame, box, snapshot, thumbnail):
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return None
