"""Decoding, thresholds and NMS as OpenVINO operations appended to the model.

The families in :mod:`agents.edge.models.families` decode raw output tensors with numpy on the result
callback, then :func:`~agents.edge.models.families.postprocess` applies per-label thresholds, the
minimum box area, the label filter and class-aware NMS. Done in Python, that is 0.5–1 ms of CPU per
inference (many small numpy calls; the more, the busier the box) on OpenVINO's callback thread, holding
the GIL — the infer request is not free for the next frame until it is done. Here the same steps are
graph operations after the network's outputs, run by the CPU plugin inside the inference (~0.1–0.4 ms,
mostly the plugin's per-node overhead: ~55 small nodes, most with shapes known only at run time), and the
model's one output is the final list of detections: ``[M, 6]`` rows ``x_min, y_min, x_max, y_max,
score, class`` (normalised 0..1, best first).

The steps mirror the numpy path exactly (it stays the reference; ``tests/edge/detection`` compares the
two on fixed tensors and on real footage):

- a family's *candidates*: the cells/anchors whose best class score reaches the lowest label threshold
  (found with ``NonZero``, so only those are decoded), each with its box (normalised, clipped), its best
  class (arg-max, ties to the lower class) and that score — what the numpy decoders keep;
- ``score >= threshold[class]`` (the label's own threshold, or the default; a label outside ``labels``
  never passes) and ``area >= min_area``;
- class-aware greedy NMS in one pass, with each class's boxes offset by ``2 × class`` so classes never
  overlap (the vehicle labels share one offset when ``merge_vehicles``: a car box and a truck box on one
  van are merged) (as :func:`~agents.edge.models.families.postprocess` does): OpenVINO's ``NonMaxSuppression``
  keeps a box when its score is at least the score threshold and drops one whose IoU with a kept box is
  above the IoU threshold — the numpy rule — up to 300 boxes.

The tail of a graph after its last convolution/matmul runs at f32 even when the CPU plugin infers in
bf16 (it keeps the graph's tail at the output precision), so the decoding is not done at lower precision;
the expectation over the GFL bins is a multiply + sum, not a MatMul, for that reason.

The filter settings are compiled in: a :class:`~agents.edge.detection.detector.Detector` is built per
model load with the service's fixed settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino import opset9

from agents.edge.detection.config import DetectionSettings
from agents.edge.models.labels import merge_groups

OUTPUT_NAME = "guardian_detections"
MAX_OUT = 300  # as the numpy NMS
NOT_WANTED = 2.0  # a threshold no sigmoid/softmax score reaches: the label never passes

Node: TypeAlias = ov.Output
# (raw outputs in the model's order, input (h, w), number of labels, lowest threshold) →
# (boxes [K, 4], scores [K], classes [K] i32): the candidates that may pass a threshold
CandidateBuilder = Callable[[Sequence[Node], tuple[int, int], int, float], tuple[Node, Node, Node]]


def _const(value: np.ndarray | float | Sequence[float] | Sequence[Sequence[float]], dtype: type = np.float32) -> Node:
    return ops.constant(np.asarray(value, dtype=dtype)).output(0)


def _i64(value: int | Sequence[int]) -> Node:
    return _const(value, np.int64)


def _static_shape(out: Node) -> list[int]:
    shape = out.get_partial_shape()
    if shape.is_dynamic:
        raise ValueError(f"graph post-processing needs static output shapes; {out.get_any_name()} is {shape}")
    return [int(d) for d in shape.to_shape()]


def _rows_at_least(scores: Node, floor: float) -> Node:
    """[N, C] class scores → indices [K] of the rows whose best score is at least ``floor``. Only these rows
    are decoded: most cells of a frame score nothing."""
    best = ops.reduce_max(scores, _i64([1]), False)
    return ops.squeeze(ops.non_zero(ops.greater_equal(best, _const(floor)), "i64"), _i64([0])).output(0)


def _best_of_rows(scores: Node) -> tuple[Node, Node]:
    """[K, C] → (best score [K], its class [K] i32); ties go to the lowest class, as numpy's argmax."""
    top = ops.topk(scores, _i64(1), axis=1, mode="max", sort="index", index_element_type="i32", stable=True)
    return ops.squeeze(top.output(0), _i64([1])).output(0), ops.squeeze(top.output(1), _i64([1])).output(0)


def _column(x: Node, i: int) -> Node:
    """Column ``i`` of an [N, K] tensor, as [N]."""
    return ops.gather(x, _i64(i), _i64(1)).output(0)


def _take(x: Node, index: Node) -> Node:
    return ops.gather(x, index, _i64(0)).output(0)


def _normalised(xyxy: Node, hw: tuple[int, int]) -> Node:
    """[K, 4] pixel corners → normalised to the input size and clipped to 0..1 (as the numpy decoders:
    divided, not multiplied by a reciprocal)."""
    h, w = hw
    scale = _const(float(w)) if w == h else _const([[w, h, w, h]])
    return ops.clamp(ops.divide(xyxy, scale), 0.0, 1.0).output(0)


def nanodet_candidates(
    outputs: Sequence[Node], input_hw: tuple[int, int], num_labels: int, floor: float
) -> tuple[Node, Node, Node]:
    """NanoDet (GFL): per stride, class map [1, H*W, C] and distribution map [1, H*W, 4*(reg_max+1)]."""
    from agents.edge.models.families.nanodet import NanoDetFamily

    w = input_hw[1]
    shaped = [(o, _static_shape(o)) for o in outputs]
    cls_maps = sorted((p for p in shaped if p[1][-1] == num_labels), key=lambda p: -p[1][-2])
    box_maps = sorted((p for p in shaped if p[1][-1] != num_labels), key=lambda p: -p[1][-2])
    bins = {b[1][-1] for b in box_maps}
    if len(bins) != 1:
        raise ValueError(f"NanoDet box maps differ in size: {[b[1] for b in box_maps]}")
    width = bins.pop()
    cls_rows, reg_rows, anchors = [], [], []
    for stride, (cls, cls_shape), (reg, _) in zip(NanoDetFamily.strides, cls_maps, box_maps, strict=True):
        cells = cls_shape[-2]
        fw = math.ceil(w / stride)
        cell = np.arange(cells)
        cx, cy, s = (cell % fw + 0.5) * stride, (cell // fw + 0.5) * stride, np.full(cells, float(stride))
        # Per cell: its centre twice, then the signed stride per side (x0 = cx - l·s … y1 = cy + b·s).
        anchors.append(np.stack([cx, cy, cx, cy, -s, -s, s, s], axis=1))
        cls_rows.append(ops.reshape(cls, _i64([cells, num_labels]), False).output(0))
        reg_rows.append(ops.reshape(reg, _i64([cells, width]), False).output(0))
    # All strides as one list of cells, in the numpy decoder's order (stride 8 first).
    cls_all = ops.concat(cls_rows, 0).output(0)
    index = _rows_at_least(cls_all, floor)
    best, label = _best_of_rows(_take(cls_all, index))
    # Softmax over the bins, then the expectation: multiply + sum (a MatMul would run in bf16 on AMX).
    logits = ops.reshape(_take(ops.concat(reg_rows, 0).output(0), index), _i64([-1, 4, width // 4]), False)
    prob = ops.softmax(logits, 2)
    dist = ops.reduce_sum(ops.multiply(prob, _const(np.arange(width // 4, dtype=np.float32))), _i64([2]), False)
    # centre + distance × signed stride, tensor by tensor: the CPU plugin (2026.4) mis-broadcasts a
    # per-column constant multiplied right after the ReduceSum (the signs came out wrong); the tests
    # compare with the numpy decoder, on square and non-square inputs.
    centre, signed_stride = ops.split(_take(_const(np.concatenate(anchors)), index), _i64(1), 2).outputs()
    xyxy = ops.add(centre, ops.multiply(dist, signed_stride)).output(0)
    return _normalised(xyxy, input_hw), best, label


def yolov8_candidates(
    outputs: Sequence[Node], input_hw: tuple[int, int], num_labels: int, floor: float
) -> tuple[Node, Node, Node]:
    """YOLOv8: one output [1, 4 + C, N] (or [1, N, 4 + C]): centre/size in input pixels, class scores."""
    (out,) = outputs
    shape = _static_shape(out)
    rows = ops.reshape(out, _i64(shape[1:]), False).output(0)
    if shape[1] == 4 + num_labels:  # [4 + C, N] → [N, 4 + C]
        rows = ops.transpose(rows, _i64([1, 0])).output(0)
    geometry, cls = ops.variadic_split(rows, _i64(1), _i64([4, num_labels])).outputs()
    index = _rows_at_least(cls, floor)
    best, label = _best_of_rows(_take(cls, index))
    centre, size = ops.split(_take(geometry, index), _i64(1), 2).outputs()
    half = ops.divide(size, _const(2.0))
    xyxy = ops.concat([ops.subtract(centre, half), ops.add(centre, half)], 1).output(0)
    return _normalised(xyxy, input_hw), best, label


def ssd_candidates(
    outputs: Sequence[Node], input_hw: tuple[int, int], num_labels: int, floor: float
) -> tuple[Node, Node, Node]:
    """SSD (NMS already in the graph): boxes [1, N, 4] as y/x, scores [1, N], classes [1, N] (float ids),
    num_detections [1]; entries past ``num_detections`` are not candidates."""
    by_name = {}
    for key in ("boxes", "scores", "classes", "num_detections"):
        for o in outputs:  # the first output whose name holds the key, as the numpy decoder picks
            if any(key in name.lower() for name in o.get_names()):
                by_name[key] = o
                break
    n = _static_shape(by_name["scores"])[-1]
    yxyx = ops.reshape(by_name["boxes"], _i64([n, 4]), False).output(0)
    xyxy = ops.clamp(ops.gather(yxyx, _i64([1, 0, 3, 2]), _i64(1)), 0.0, 1.0).output(0)
    score = ops.reshape(by_name["scores"], _i64([n]), False).output(0)
    label = ops.convert(ops.round(ops.reshape(by_name["classes"], _i64([n]), False), "half_to_even"), "i32").output(0)
    if "num_detections" in by_name:
        num = ops.reshape(by_name["num_detections"], _i64([1]), False).output(0)
        # Entries [0, int(num)), as the numpy decoder slices them.
        valid = ops.less(_const(np.arange(n, dtype=np.float32)), ops.floor(num)).output(0)
        score = ops.select(valid, score, _const(-1.0)).output(0)
    return xyxy, score, label


def centernet_candidates(
    outputs: Sequence[Node], input_hw: tuple[int, int], num_labels: int, floor: float
) -> tuple[Node, Node, Node]:
    """CenterNet: its one output [1, K, 6] is already the peaks (box in input pixels, score, class); every
    row is a candidate, the thresholds do the rest."""
    (out,) = outputs
    k = _static_shape(out)[1]
    rows = ops.reshape(out, _i64([k, 6]), False).output(0)
    xyxy, score, label = ops.variadic_split(rows, _i64(1), _i64([4, 1, 1])).outputs()
    classes = ops.convert(ops.round(ops.squeeze(label, _i64([1])), "half_to_even"), "i32").output(0)
    return _normalised(xyxy, input_hw), ops.squeeze(score, _i64([1])).output(0), classes


BUILDERS: dict[str, CandidateBuilder] = {
    "nanodet": nanodet_candidates,
    "yolov8": yolov8_candidates,
    "yolox": yolov8_candidates,  # decoded to the YOLOv8 layout when stored (convert_yolox)
    "ssd": ssd_candidates,
    "centernet": centernet_candidates,
}


def label_limits(labels: Sequence[str], filters: DetectionSettings) -> np.ndarray:
    """Score threshold per class index, plus one last entry for class ids past the labels (named "?",
    as the numpy path does); a label the filter does not want gets a threshold no score reaches."""
    names = [*labels, "?"]
    wanted = filters.wanted_labels
    return np.array(
        [filters.thresholds.get(n, filters.threshold) if wanted is None or n in wanted else NOT_WANTED
         for n in names],
        np.float32,
    )


def filter_and_nms(
    boxes: Node, scores: Node, classes: Node, labels: Sequence[str], filters: DetectionSettings, known_classes: bool = False
) -> Node:
    """Candidates → ``[M, 6]`` detections: thresholds, minimum area, class-aware NMS, best first.
    ``known_classes``: every class id is an index into ``labels`` (an arg-max over exactly those)."""
    limits = label_limits(labels, filters)
    floor = float(limits.min())
    if not known_classes:  # ids past the labels share the last slot ("?"), as in the numpy path
        classes = ops.minimum(ops.maximum(classes, _const(0, np.int32)), _const(len(labels), np.int32)).output(0)
    limit = _take(_const(limits), classes)
    top_left, bottom_right = ops.split(boxes, _i64(1), 2).outputs()
    area = ops.reduce_prod(ops.maximum(ops.subtract(bottom_right, top_left), _const(0.0)), _i64([1]), False)
    keep = ops.logical_and(ops.greater_equal(scores, limit), ops.greater_equal(area, _const(float(filters.min_area))))
    # A candidate that fails gets a score under NMS's score threshold (the lowest label threshold).
    masked = ops.select(keep, scores, _const(min(-1.0, floor - 1.0)))
    # The rows to output, [K, 6]: box, score, class.
    label = ops.unsqueeze(ops.convert(classes, "f32"), _i64([1])).output(0)
    rows = ops.concat([boxes, ops.unsqueeze(scores, _i64([1])).output(0), label], 1).output(0)
    # Class-aware NMS in one pass: each class's boxes offset by 2 × its NMS group (its own index, or the
    # vehicles' shared one), so classes of different groups never overlap.
    groups = _const([*merge_groups(labels, filters.merged_labels), len(labels)])
    group = ops.unsqueeze(_take(groups, classes), _i64([1])).output(0)
    shifted = ops.add(boxes, ops.multiply(group, _const(2.0)))
    nms = opset9.non_max_suppression(
        ops.unsqueeze(shifted, _i64([0])),  # [1, K, 4]
        ops.unsqueeze(masked, _i64([0, 1])),  # [1, 1, K]: one class
        _i64([MAX_OUT]),
        _const([float(filters.nms_iou)]),
        _const([floor]),
        _const([0.0]),  # no soft-NMS
        box_encoding="corner",
        sort_result_descending=True,
        output_type="i32",
    )
    # The selected (batch, class, box) triples, cut to the valid count; their rows.
    selected = ops.slice(nms.output(0), _i64([0]), ops.convert(nms.output(2), "i64"), _i64([1]), _i64([0]))
    return _take(rows, _column(selected.output(0), 2))


def supports(family: str) -> bool:
    return family in BUILDERS


def with_postprocessing(
    model: ov.Model, family: str, labels: Sequence[str], input_hw: tuple[int, int], filters: DetectionSettings,
    keep_raw: bool = False,
) -> ov.Model:
    """``model`` (its outputs in the manifest's order) with decoding, thresholds and NMS appended; its
    output is ``[M, 6]`` detections. ``keep_raw`` keeps the raw outputs too, after the detections (tests
    compare both routes on one inference)."""
    build = BUILDERS[family]
    raw = [r.input_value(0) for r in model.get_results()]
    boxes, scores, classes = build(raw, input_hw, len(labels), float(label_limits(labels, filters).min()))
    # The arg-max decoders only produce class ids of the labels; SSD's ids come from the graph.
    detections = filter_and_nms(boxes, scores, classes, labels, filters, known_classes=family != "ssd")
    result = ops.result(detections)
    result.output(0).get_tensor().set_names({OUTPUT_NAME})
    results = [result] + (list(model.get_results()) if keep_raw else [])
    return ov.Model(results, model.get_parameters(), f"{model.get_friendly_name()}+postprocessing")
