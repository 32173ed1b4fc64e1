"""The TensorFlow.js → OpenVINO converter, on the real NanoDet weights."""

from __future__ import annotations

import base64

import numpy as np
import openvino as ov

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models.convert_tfjs import tfjs_to_openvino
from agents.edge.models.families import get_family, postprocess
from agents.edge.models.labels import COCO80
from agents.edge.models.tfjs import Node, TfjsGraph, load_tfjs
from agents.edge.models.tfjs_reference import run_reference
from tests.edge.detection.conftest import CACHE


def test_converted_nanodet_finds_the_astronaut(model_store, astronaut_bgr):
    stored = model_store.get("nanodet")
    detector = Detector(stored, model_store.load(stored), filters=DetectionSettings(labels=[], thresholds={}, threshold=0.3))
    people = [d for d in detector.detect(astronaut_bgr) if d.label == "person"]
    assert people, "no person found"
    best = max(people, key=lambda d: d.score)
    assert best.score > 0.5
    # She fills the left two thirds of the photo, head to bottom edge.
    x0, y0, x1, y1 = best.box
    assert x0 < 0.15 and 0.6 < x1 < 0.85 and y0 < 0.15 and y1 > 0.9


def test_ir_matches_numpy_reference_of_the_graph(astronaut_bgr):
    """Second route: the TF.js graph run op by op in numpy (TF semantics, NHWC) against the IR, at f32,
    on a fixed input; then both decoded by the same GFL decoder must give the same detections."""
    graph = load_tfjs(CACHE / "nanodet-tfjs" / "nanodet.json")
    compiled = ov.Core().compile_model(tfjs_to_openvino(graph), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rgb = astronaut_bgr[:, :, ::-1]
    idx = np.linspace(0, rgb.shape[0] - 1, 416).astype(int)  # fixed nearest-neighbour resize
    x = (rgb[idx][:, idx].astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
    ir = compiled(x)
    ref = run_reference(graph, {"input_1": x})
    assert [o.get_any_name() for o in compiled.outputs] == graph.outputs
    for out, expected in zip(compiled.outputs, ref, strict=True):
        got = ir[out]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * float(np.abs(expected).max()))
    family = get_family("nanodet")
    decoded = []
    for outputs in ({o.get_any_name(): ir[o] for o in compiled.outputs}, dict(zip(graph.outputs, ref, strict=True))):
        cand = family.decode(outputs, (416, 416), 0.3, 80)
        decoded.append(postprocess(cand, COCO80, {}, 0.3))
    assert len(decoded[0]) == len(decoded[1]) >= 1
    np.testing.assert_allclose(decoded[0].boxes, decoded[1].boxes, atol=1e-3)
    np.testing.assert_array_equal(decoded[0].classes, decoded[1].classes)


def test_preprocessing_in_model_equals_manual_preprocessing(model_store, astronaut_bgr):
    """PrePostProcessor's resize/colour/scale inside the model ≈ doing it by hand on the raw IR."""
    stored = model_store.get("nanodet")
    model = model_store.load(stored)
    detector = Detector(stored, model, inference_precision="f32")
    raw_ppp = detector.raw(astronaut_bgr)
    from PIL import Image

    rgb = np.asarray(Image.fromarray(astronaut_bgr[:, :, ::-1]).resize((416, 416), Image.Resampling.BILINEAR), np.float32)
    manual = ov.Core().compile_model(model_store.load(stored), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = manual((rgb / 255.0).transpose(2, 0, 1)[None])
    cls_ppp = raw_ppp["Identity"].max(axis=-1)
    cls_manual = out[manual.outputs[0]].max(axis=-1)
    # Resize kernels differ slightly (OpenVINO's linear vs Pillow's bilinear): the best cell agrees.
    assert abs(float(cls_ppp.max()) - float(cls_manual.max())) < 0.08


def _node(name: str, op: str, inputs: tuple[str, ...] = (), **attr: object) -> Node:
    return Node(name, op, inputs, dict(attr))


def test_layout_kept_through_elementwise_ops_equals_reference():
    """Activations stay NCHW between convolutions (convert_tfjs.Nchw): per-channel and per-pixel constants,
    a spatial mean with negative axes, a channel concat at -1, a fused depthwise convolution with Relu6, and
    an op needing TF's layout (Reshape) — against the numpy interpreter, which works in NHWC throughout."""
    rng = np.random.default_rng(3)
    same = {"s": base64.b64encode(b"SAME").decode()}
    ones = {"list": {"i": ["1", "1", "1", "1"]}}
    fused = {"list": {"s": [base64.b64encode(b"BiasAdd").decode(), base64.b64encode(b"Relu6").decode()]}}
    conv = {"strides": ones, "padding": same, "dilations": ones}
    weights = {
        "w": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
        "per_channel": rng.normal(size=(4,)).astype(np.float32),
        "per_pixel": rng.normal(size=(6, 5, 1)).astype(np.float32),
        "axes": np.array([-3, -2], np.int32),
        "dw": rng.normal(size=(3, 3, 4, 2)).astype(np.float32),
        "bias": rng.normal(size=(8,)).astype(np.float32),
        "axis": np.array(-1, np.int32),
        "shape": np.array([1, -1], np.int32),
    }
    nodes = [
        _node("x", "Placeholder"),
        *(_node(k, "Const") for k in weights),
        _node("c1", "Conv2D", ("x", "w"), **conv),
        _node("m", "Mul", ("c1", "per_channel")),
        _node("a", "AddV2", ("m", "per_pixel")),
        _node("se", "Mean", ("a", "axes"), keep_dims={"b": True}),
        _node("g", "Sub", ("a", "se")),
        _node("d", "FusedDepthwiseConv2dNative", ("g", "dw", "bias"), fused_ops=fused, **conv),
        _node("cat", "ConcatV2", ("d", "a", "axis")),
        _node("s", "Sigmoid", ("cat",)),
        _node("out", "Reshape", ("s", "shape")),
    ]
    graph = TfjsGraph(nodes=nodes, weights=weights, inputs={"x": (1, 6, 5, 3)}, outputs=["out", "cat"])
    x = rng.normal(size=(1, 6, 5, 3)).astype(np.float32)
    compiled = ov.Core().compile_model(tfjs_to_openvino(graph), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(x)
    for out, expected in zip(compiled.outputs, run_reference(graph, {"x": x}), strict=True):
        assert got[out].shape == expected.shape
        np.testing.assert_allclose(got[out], expected, rtol=1e-4, atol=1e-4)
