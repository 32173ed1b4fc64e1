"""Decoding, thresholds and NMS as OpenVINO operations (agents.edge.detection.graph_post) against the numpy
route (the families' decoders + postprocess): the same detections on fixed tensors for every family,
and on the real NanoDet over the campus footage, both routes fed by one inference."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from agents.edge.detection import graph_post
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models.families import Candidates, get_family, postprocess
from agents.edge.models.labels import COCO80

FILTERS = [
    DetectionSettings(labels=[], thresholds={}),
    DetectionSettings(labels=["person", "car", "truck"], threshold=0.5, thresholds={"car": 0.35, "truck": 0.35}),
    DetectionSettings(labels=[], thresholds={}, threshold=0.2, min_area=0.002, nms_iou=0.3),
    DetectionSettings(labels=["person"], thresholds={}, threshold=0.6, nms_iou=0.7, min_area=0.0),
    DetectionSettings(labels=[], thresholds={}, threshold=0.3, merge_vehicles=False),
]


def _model_of(tensors: dict[str, np.ndarray]) -> ov.Model:
    """A model whose outputs are its inputs: stands for a network's raw outputs."""
    params = []
    for name, value in tensors.items():
        p = ops.parameter(list(value.shape), ov.Type.f32, name=name)
        p.output(0).get_tensor().set_names({name})
        params.append(p)
    return ov.Model([ops.result(p) for p in params], params, "raw")


def _graph(tensors: dict[str, np.ndarray], family: str, labels: list[str], hw: tuple[int, int],
           filters: DetectionSettings) -> np.ndarray:
    model = graph_post.with_postprocessing(_model_of(tensors), family, labels, hw, filters)
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled(list(tensors.values()))[compiled.outputs[0]]
    assert out.ndim == 2 and out.shape[1] == 6
    return out


def _numpy(tensors: dict[str, np.ndarray], family: str, labels: list[str], hw: tuple[int, int],
           f: DetectionSettings) -> Candidates:
    cand = get_family(family).decode(tensors, hw, f.min_score, len(labels))
    return postprocess(cand, labels, f.thresholds, f.threshold, f.min_area, f.nms_iou, f.wanted_labels,
                       f.merged_labels)


def assert_same(graph: np.ndarray, ref: Candidates) -> None:
    assert len(graph) == len(ref), (graph[:, 4:], ref.scores, ref.classes)
    np.testing.assert_array_equal(graph[:, 5].astype(np.int32), ref.classes)
    np.testing.assert_array_equal(graph[:, 4], ref.scores)
    np.testing.assert_allclose(graph[:, :4], ref.boxes, rtol=0, atol=1e-6)


def _nanodet_tensors(rng: np.random.Generator, objects: int, hw: tuple[int, int] = (416, 416)) -> dict[str, np.ndarray]:
    h, w = hw
    out = {}
    for i, stride in enumerate((8, 16, 32)):
        cells = int(np.ceil(h / stride)) * int(np.ceil(w / stride))
        # Background scores, as a sigmoid gives them, all below any threshold…
        cls = rng.uniform(0.0, 0.15, (1, cells, 80)).astype(np.float32)
        # …and objects: a few neighbouring cells each (overlapping boxes for NMS), a random class.
        for _ in range(objects):
            c = int(rng.integers(cells - 3))
            label = int(rng.choice([0, 0, 0, 2, 7, 15, 56]))
            cls[0, c : c + 3, label] = rng.uniform(0.25, 0.95, 3)
            if rng.random() < 0.3:  # a runner-up class in the same cell
                cls[0, c, (label + 1) % 80] = rng.uniform(0.25, 0.95)
        out[f"Identity{'_' + str(i) if i else ''}"] = cls
    for i, stride in enumerate((8, 16, 32)):
        cells = int(np.ceil(h / stride)) * int(np.ceil(w / stride))
        out[f"Identity_{i + 3}"] = rng.normal(0.0, 2.0, (1, cells, 44)).astype(np.float32)
    return out


@pytest.mark.parametrize("filters", FILTERS)
def test_nanodet_graph_equals_numpy_on_fixed_tensors(filters):
    rng = np.random.default_rng(7)
    labels = list(COCO80)
    for objects in (0, 1, 6, 25):
        tensors = _nanodet_tensors(rng, objects)
        assert_same(_graph(tensors, "nanodet", labels, (416, 416), filters),
                    _numpy(tensors, "nanodet", labels, (416, 416), filters))


def test_nanodet_graph_equals_numpy_on_a_non_square_input():
    rng = np.random.default_rng(8)
    tensors = _nanodet_tensors(rng, 10, hw=(320, 416))
    for filters in FILTERS[:3]:
        assert_same(_graph(tensors, "nanodet", list(COCO80), (320, 416), filters),
                    _numpy(tensors, "nanodet", list(COCO80), (320, 416), filters))


def test_the_decoders_known_box_comes_out_of_the_graph():
    """The decoder test's hand-made NanoDet cell (test_decoders.py), through the graph."""
    tensors = {}
    for i, n in enumerate((2704, 676, 169)):
        tensors[f"Identity{'_' + str(i) if i else ''}"] = np.zeros((1, n, 80), np.float32)
    for i, n in enumerate((2704, 676, 169)):
        tensors[f"Identity_{i + 3}"] = np.zeros((1, n, 44), np.float32)
    cell = 5 * 26 + 10
    tensors["Identity_1"][0, cell, 2] = 0.9
    peaked = [np.where(np.arange(11) == k, 20.0, -20.0) for k in (2, 3, 4, 1)]
    tensors["Identity_4"][0, cell] = np.concatenate(peaked)
    out = _graph(tensors, "nanodet", list(COCO80), (416, 416), DetectionSettings(labels=[], thresholds={}))
    assert out.shape == (1, 6) and out[0, 5] == 2 and out[0, 4] == np.float32(0.9)
    np.testing.assert_allclose(out[0, :4] * 416, [168 - 32, 88 - 48, 168 + 64, 88 + 16], atol=1e-3)


@pytest.mark.parametrize("transposed", [False, True])
def test_yolov8_graph_equals_numpy_on_fixed_tensors(transposed):
    rng = np.random.default_rng(9)
    labels = ["person", "bicycle", "car", "truck"]
    n = 2000
    out = np.zeros((1, 4 + len(labels), n), np.float32)
    out[0, 0] = rng.uniform(0, 640, n)
    out[0, 1] = rng.uniform(0, 480, n)
    out[0, 2:4] = rng.uniform(4, 200, (2, n))
    out[0, 4:] = rng.uniform(0, 0.2, (len(labels), n))
    hot = rng.choice(n, 60, replace=False)
    out[0, 4 + rng.integers(len(labels), size=60), hot] = rng.uniform(0.2, 0.99, 60)
    # Clusters of overlapping boxes of one class, for NMS.
    o = out[0]
    for k in range(0, 60, 6):
        o[:4, hot[k : k + 3]] = o[:4, hot[k : k + 1]] + rng.normal(0, 3, (4, 3))
        o[4:, hot[k : k + 3]] = o[4:, hot[k : k + 1]]
        o[4 + 2, hot[k + 1]] += 0.01
    tensor = out.transpose(0, 2, 1).copy() if transposed else out
    filters = [DetectionSettings(labels=[], thresholds={}, threshold=0.25), DetectionSettings(labels=["car", "truck"], thresholds={"car": 0.4}),
               DetectionSettings(labels=[], thresholds={}, threshold=0.3, min_area=0.01, nms_iou=0.2)]
    for f in filters:
        # 480×640 (h×w): the x and y scales differ.
        assert_same(_graph({"output0": tensor}, "yolov8", labels, (480, 640), f),
                    _numpy({"output0": tensor}, "yolov8", labels, (480, 640), f))


def test_ssd_graph_equals_numpy_on_fixed_tensors():
    rng = np.random.default_rng(10)
    labels = ["background", "person", "car"]
    n = 100
    y0, x0 = rng.uniform(0, 0.8, (2, n))
    boxes = np.stack([y0, x0, y0 + rng.uniform(0.01, 0.3, n), x0 + rng.uniform(0.01, 0.3, n)], axis=1)
    boxes[10:14] = boxes[10] + rng.normal(0, 0.01, (4, 4))  # a cluster for NMS
    tensors = {
        "detection_boxes": boxes[None].astype(np.float32),
        "detection_classes": rng.choice([1.0, 2.0, 3.0, 1.0], n)[None].astype(np.float32),  # 3: past the labels
        "detection_scores": np.sort(rng.uniform(0, 1, n))[::-1][None].astype(np.float32),
        "num_detections": np.array([61.0], np.float32),
    }
    for f in (DetectionSettings(labels=[], thresholds={}, threshold=0.3), DetectionSettings(labels=["person"], thresholds={}, nms_iou=0.3),
              DetectionSettings(labels=[], threshold=0.2, thresholds={"?": 0.9})):
        assert_same(_graph(tensors, "ssd", labels, (300, 300), f), _numpy(tensors, "ssd", labels, (300, 300), f))


def test_real_model_graph_equals_numpy_on_the_footage(model_store, footage):
    """NanoDet and SSDLite at the CPU's default precision: the raw outputs and the graph's detections of
    one inference; the numpy route on the raw outputs must give the same detections."""
    core = ov.Core()
    for name, filters in (("nanodet", FILTERS[1]), ("nanodet", DetectionSettings(labels=[], thresholds={}, threshold=0.25)),
                          ("ssdlite-person", DetectionSettings(labels=[], thresholds={}, threshold=0.3))):
        stored = model_store.get(name)
        detector = Detector(stored, model_store.load(stored), filters=filters, num_requests=1)
        assert detector.graph_postprocessing
        both = graph_post.with_postprocessing(detector.preprocessed, stored.manifest.family, detector.labels,
                                              detector.input_hw, filters, keep_raw=True)
        compiled = core.compile_model(both, "CPU")
        total = 0
        for _, frame in footage[::8]:
            r = compiled({0: frame[None]})
            raw = {n: r[compiled.outputs[i + 1]] for i, n in enumerate(detector.output_names)}
            ref = _numpy(raw, stored.manifest.family, detector.labels, detector.input_hw, filters)
            assert_same(r[compiled.outputs[0]], ref)
            total += len(ref)
        assert total > 20  # the footage is busy: the comparison saw detections
        # The detector's own output is the same kind of list (labels, scores, boxes from the graph).
        dets = detector.detect(footage[40][1])
        assert all(d.label in detector.labels and 0 <= d.box[0] <= d.box[2] <= 1 for d in dets)


def test_detector_falls_back_to_numpy_when_asked(model_store, astronaut_bgr):
    stored = model_store.get("nanodet")
    filters = DetectionSettings(labels=[], thresholds={}, threshold=0.3)
    graph = Detector(stored, model_store.load(stored), filters=filters, inference_precision="f32", num_requests=1)
    plain = Detector(stored, model_store.load(stored), filters=filters, inference_precision="f32", num_requests=1,
                     graph_postprocessing=False)
    assert graph.graph_postprocessing and not plain.graph_postprocessing
    a, b = graph.detect(astronaut_bgr), plain.detect(astronaut_bgr)
    assert [d.label for d in a] == [d.label for d in b] and a
    np.testing.assert_allclose([d.box for d in a], [d.box for d in b], atol=1e-5)
    np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-6)
