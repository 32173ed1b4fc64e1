"""The labels a camera owner can choose in a camera's detection settings (the UI's list comes from here)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloud.api.schemas import DetectionConfigShape


def test_vehicle_and_pet_labels_are_selectable() -> None:
    chosen = ["train", "motorcycle", "bicycle", "dog", "cat"]
    shape = DetectionConfigShape.model_validate(
        {"labels": chosen, "thresholds": [{"label": "train", "min_score": 0.35}]})
    assert shape.labels == chosen


def test_a_label_the_models_do_not_have_is_refused() -> None:
    with pytest.raises(ValidationError):
        DetectionConfigShape.model_validate({"labels": ["tram"]})
