"""YOLOX's raw head → the YOLOv8-style output the edge decodes: box centre and size in input pixels, then one
score per class.

Megvii's ONNX export of YOLOX (``decode_in_inference`` off) outputs ``[1, N, 5 + C]`` per anchor point of the
stride-8, -16 and -32 grids (N = Σ H/s · W/s, row by row, finest grid first): the box as offsets from its grid
cell (``dx, dy``, log ``w, h``, in grid units), the objectness and the class probabilities (both already
sigmoid). Appended here as graph operations, as YOLOX's own ``decode_outputs`` does it: ``(dxy + cell) ·
stride``, ``exp(log wh) · stride``, score = objectness · class probability. The grids come from the input's
shape at run time, so the model still runs at any input size that is a multiple of 32 (per-camera
``detection.input_size``).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

STRIDES = (8, 16, 32)
OUTPUT_NAME = "detections"


def _i64(value: int | list[int]) -> ov.Output:
    return ops.constant(np.asarray(value, np.int64)).output(0)


def _grid(height: ov.Output, width: ov.Output, stride: int) -> tuple[ov.Output, ov.Output]:
    """The cells (x, y) of one stride's grid, row by row, [H·W, 2], and that stride as a column [H·W, 1]."""
    rows = ops.divide(height, _i64(stride)).output(0)
    cols = ops.divide(width, _i64(stride)).output(0)
    ys = ops.range(_i64(0), ops.squeeze(rows, _i64(0)), _i64(1), "f32").output(0)
    xs = ops.range(_i64(0), ops.squeeze(cols, _i64(0)), _i64(1), "f32").output(0)
    size = ops.concat([rows, cols], 0).output(0)
    x = ops.broadcast(ops.unsqueeze(xs, _i64(0)), size).output(0)
    y = ops.broadcast(ops.unsqueeze(ys, _i64(1)), size).output(0)
    cells = ops.reshape(ops.concat([ops.unsqueeze(x, _i64(2)), ops.unsqueeze(y, _i64(2))], 2), _i64([-1, 2]), False)
    count = ops.multiply(rows, cols).output(0)
    column = ops.broadcast(ops.constant(np.float32(stride)), ops.concat([count, _i64([1])], 0)).output(0)
    return cells.output(0), column


def decode_yolox(model: ov.Model, num_labels: int) -> ov.Model:
    """``model`` (YOLOX's ONNX, one NCHW image input, one ``[1, N, 5 + C]`` output) with its decoding appended:
    one output ``detections`` ``[1, N, 4 + C]``."""
    (image,) = model.get_parameters()
    raw = model.get_results()[0].input_value(0)
    shape = ops.shape_of(image.output(0), "i64").output(0)
    height = ops.gather(shape, _i64([2]), _i64(0)).output(0)
    width = ops.gather(shape, _i64([3]), _i64(0)).output(0)
    grids = [_grid(height, width, s) for s in STRIDES]
    cells = ops.unsqueeze(ops.concat([g[0] for g in grids], 0), _i64(0)).output(0)
    strides = ops.unsqueeze(ops.concat([g[1] for g in grids], 0), _i64(0)).output(0)
    dxy, log_wh, objectness, classes = ops.variadic_split(raw, _i64(2), _i64([2, 2, 1, num_labels])).outputs()
    xy = ops.multiply(ops.add(dxy, cells), strides)
    wh = ops.multiply(ops.exp(log_wh), strides)
    scores = ops.multiply(classes, objectness)
    result = ops.result(ops.concat([xy, wh, scores], 2))
    result.output(0).get_tensor().set_names({OUTPUT_NAME})
    return ov.Model([result], [image], model.get_friendly_name())


def ready_for_the_edge(model: ov.Model, num_labels: int) -> ov.Model:
    """An operator's YOLOX as the edge runs it: Megvii's ONNX export (``[1, N, 5 + C]``, any of Nano to X) with its
    decoding appended; a graph already decoded (``[1, N, 4 + C]``, e.g. saved from a model store) as it is.
    Anything else is left for the store's structure check to refuse, with its own message."""
    results = model.get_results()
    if len(results) == 1:
        last = results[0].get_output_partial_shape(0)[-1]
        if last.is_static and last.get_length() == 5 + num_labels:
            return decode_yolox(model, num_labels)
    return model
