"""A converted model at another input size: the same network at 416, and working at 320/640."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models.errors import ModelValidationError
from agents.edge.models.input_size import at_input_size


def test_the_shape_aware_model_is_the_same_network(model_store):
    stored = model_store.get("nanodet")
    x = np.random.default_rng(7).random((1, 3, 416, 416), np.float32)
    core = ov.Core()
    before = core.compile_model(model_store.load(stored, smoke=False), "CPU").create_infer_request().infer({0: x})
    after = core.compile_model(at_input_size(model_store.load(stored, smoke=False), "NCHW", 416), "CPU") \
        .create_infer_request().infer({0: x})
    for a, b in zip(before.values(), after.values(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("size", [320, 640])
def test_a_larger_or_smaller_input_finds_the_astronaut_where_she_is(model_store, astronaut_bgr, size):
    """The photo in a 1280×720 grey frame (she fills her own 512-px photo: at 640 her box would reach past
    the farthest side distance the GFL head can express, 10 bins × stride 32)."""
    frame = np.full((720, 1280, 3), 114, np.uint8)
    frame[100:612, 600:1112] = astronaut_bgr
    stored = model_store.get("nanodet")
    reference = Detector(stored, model_store.load(stored, smoke=False), num_requests=1,
                         filters=DetectionSettings(input_fit="letterbox")).detect(frame)
    detector = Detector(stored, model_store.load(stored, smoke=False), num_requests=1,
                        filters=DetectionSettings(input_fit="letterbox", input_size=size))
    assert detector.input_hw == (size, size)
    people = [d for d in detector.detect(frame) if d.label == "person"]
    (expected,) = [d for d in reference if d.label == "person"]
    assert len(people) == 1
    # The same box as at 416 within 2 % of the frame (the GFL grid follows the input size).
    np.testing.assert_allclose(people[0].box, expected.box, atol=0.02)


def test_sizes_that_are_not_a_multiple_of_the_stride_are_refused(model_store):
    stored = model_store.get("nanodet")
    with pytest.raises(ModelValidationError, match="not a multiple of 32"):
        at_input_size(model_store.load(stored, smoke=False), "NCHW", 500)
