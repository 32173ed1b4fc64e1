"""The labels a camera owner can pick: train, motorcycle, bicycle, dog and cat reach the detector's filter."""

from __future__ import annotations

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.graph_post import NOT_WANTED, label_limits
from agents.edge.models.labels import COCO80


def limits(settings: DetectionSettings) -> dict[str, float]:
    # The last entry is for class ids past the labels.
    return dict(zip(COCO80, label_limits(COCO80, settings).tolist()[:-1], strict=True))


def test_default_labels_keep_trains_as_vehicles() -> None:
    """NanoDet scores some buses as "train": by default that label becomes an event, at the vehicles' threshold."""
    got = limits(DetectionSettings())
    assert got["train"] == got["bus"] == got["car"] == got["truck"] < 0.5
    assert got["person"] == 0.5
    assert got["dog"] == NOT_WANTED  # pets only when asked for


def test_selected_labels_pass_and_others_do_not() -> None:
    chosen = ["train", "motorcycle", "bicycle", "dog", "cat"]
    got = limits(DetectionSettings(labels=chosen, thresholds={"dog": 0.4}))
    assert {n for n, v in got.items() if v < NOT_WANTED} == set(chosen)
    assert got["dog"] < got["cat"] == 0.5
