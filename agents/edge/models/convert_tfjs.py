"""TensorFlow.js graph model → OpenVINO model, built directly with OpenVINO's opset API.

No TensorFlow and no intermediate GraphDef: each TF op of the graph becomes the equivalent OpenVINO
op. TF ops are NHWC; OpenVINO's convolution and pooling are NCHW, so those are wrapped in transposes,
which OpenVINO's transpose sinking folds away at compile time. Sub-graphs whose inputs are all constant
(shape arithmetic such as ``SparseToDense`` on constants) are folded in numpy by the reference
interpreter, so the converter and :mod:`agents.edge.models.tfjs_reference` share their semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agents.edge.models.errors import UnsupportedOpError
from agents.edge.models.tfjs import Node, TfjsGraph, load_tfjs, split_ref
from agents.edge.models.tfjs_reference import _pad_same, check_data_format, evaluate, topological_order

Out: TypeAlias = ov.Output
Val = "Out | np.ndarray"

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


def _c(value: np.ndarray) -> Out:
    return ops.constant(np.asarray(value)).output(0)


def _as_out(value: Out | np.ndarray) -> Out:
    return _c(value) if isinstance(value, np.ndarray) else value


def _const(value: Out | np.ndarray, node: Node, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    raise UnsupportedOpError(f"{node.op} with a computed {what}", node.name)


def _conv(node: Node, a: list) -> list:
    check_data_format(node)
    x = ops.transpose(_as_out(a[0]), _c(np.array(NHWC_TO_NCHW, np.int64))).output(0)
    w = _const(a[1], node, "filter")  # HWIO
    strides = node.attr_int_list("strides")[1:3]
    dil = node.attr_int_list("dilations")[1:3] or [1, 1]
    padding = node.attr_str("padding")
    if padding == "SAME":
        pad_mode, pb, pe = "same_upper", [0, 0], [0, 0]
    elif padding == "VALID":
        pad_mode, pb, pe = "explicit", [0, 0], [0, 0]
    else:
        raise UnsupportedOpError(f"Conv2D(padding={padding})", node.name)
    cin = x.get_partial_shape()[1].get_length()
    kh, kw, ci, co = w.shape
    groups = cin // ci
    if groups == 1:
        y = ops.convolution(x, _c(w.transpose(3, 2, 0, 1).copy()), strides, pb, pe, dil, pad_mode)
    else:  # OpenVINO GroupConvolution filter: [G, O/G, I/G, kH, kW]
        wg = w.transpose(3, 2, 0, 1).reshape(groups, co // groups, ci, kh, kw).copy()
        y = ops.group_convolution(x, _c(wg), strides, pb, pe, dil, pad_mode)
    return [ops.transpose(y, _c(np.array(NCHW_TO_NHWC, np.int64))).output(0)]


def _max_pool(node: Node, a: list) -> list:
    check_data_format(node)
    k = node.attr_int_list("ksize")[1:3]
    s = node.attr_int_list("strides")[1:3]
    padding = node.attr_str("padding")
    x = ops.transpose(_as_out(a[0]), _c(np.array(NHWC_TO_NCHW, np.int64)))
    pool = ops.max_pool(x, s, [1, 1], [0, 0], [0, 0], k, "floor", "same_upper" if padding == "SAME" else "explicit")
    return [ops.transpose(pool.output(0), _c(np.array(NCHW_TO_NHWC, np.int64))).output(0)]


def _resize(node: Node, a: list) -> list:
    size = _const(a[1], node, "size").astype(np.int64)
    if node.attr_bool("align_corners"):
        mode = "align_corners"
    elif node.attr_bool("half_pixel_centers"):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    y = ops.interpolate(
        _as_out(a[0]), _c(size), mode="linear", shape_calculation_mode="sizes",
        coordinate_transformation_mode=mode, axes=_c(np.array([1, 2], np.int64)),
    )
    return [y.output(0)]


def _pad(node: Node, a: list) -> list:
    pads = _const(a[1], node, "padding").reshape(-1, 2).astype(np.int64)
    value = _as_out(np.asarray(a[2], np.float32)) if len(a) > 2 else None
    y = ops.pad(_as_out(a[0]), _c(pads[:, 0].copy()), _c(pads[:, 1].copy()), "constant", value)
    return [y.output(0)]


def _split_v(node: Node, a: list) -> list:
    y = ops.variadic_split(_as_out(a[0]), _c(np.asarray(a[2], np.int64)), _c(np.asarray(a[1], np.int64)))
    return list(y.outputs())


def _leaky(node: Node, a: list) -> list:
    alpha = np.array([node.attr_float("alpha", 0.2)], np.float32)
    return [ops.prelu(_as_out(a[0]), _c(alpha)).output(0)]


def _binary(fn: Callable) -> Callable[[Node, list], list]:
    return lambda n, a: [fn(_as_out(a[0]), _as_out(a[1])).output(0)]


BUILDERS: dict[str, Callable[[Node, list], list]] = {
    "Identity": lambda n, a: [_as_out(a[0])],
    "Add": _binary(ops.add),
    "AddV2": _binary(ops.add),
    "Sub": _binary(ops.subtract),
    "Mul": _binary(ops.multiply),
    "Transpose": lambda n, a: [ops.transpose(_as_out(a[0]), _c(np.asarray(a[1], np.int64))).output(0)],
    "Reshape": lambda n, a: [ops.reshape(_as_out(a[0]), _c(np.asarray(a[1], np.int64)), False).output(0)],
    "Sigmoid": lambda n, a: [ops.sigmoid(_as_out(a[0])).output(0)],
    "Relu": lambda n, a: [ops.relu(_as_out(a[0])).output(0)],
    "LeakyRelu": _leaky,
    "Pad": _pad,
    "PadV2": _pad,
    "ConcatV2": lambda n, a: [ops.concat([_as_out(v) for v in a[:-1]], int(a[-1])).output(0)],
    "SplitV": _split_v,
    "Conv2D": _conv,
    "MaxPool": _max_pool,
    "ResizeBilinear": _resize,
}


def tfjs_to_openvino(graph: TfjsGraph) -> ov.Model:
    """Build an OpenVINO model equivalent to ``graph`` (inputs and outputs keep their TF names)."""
    values: dict[str, list] = {}
    params: list[ov.op.Parameter] = []
    for node in topological_order(graph.nodes, graph.outputs):
        if node.op == "Placeholder":
            shape = graph.inputs[node.name]
            p = ops.parameter(ov.PartialShape([d if d > 0 else -1 for d in shape]), ov.Type.f32, name=node.name)
            p.output(0).get_tensor().set_names({node.name})
            params.append(p)
            values[node.name] = [p.output(0)]
            continue
        if node.op == "Const":
            values[node.name] = [graph.weights[node.name]]
            continue
        args = []
        for ref in node.inputs:
            src, index = split_ref(ref)
            if index >= 0:
                args.append(values[src][index])
        if all(isinstance(v, np.ndarray) for v in args):
            values[node.name] = evaluate(node, args)  # constant folding
            continue
        builder = BUILDERS.get(node.op)
        if builder is None:
            raise UnsupportedOpError(node.op, node.name)
        values[node.name] = builder(node, args)
    results = []
    for name in graph.outputs:
        out = _as_out(values[name][0])
        result = ops.result(out)
        result.output(0).get_tensor().set_names({name})
        results.append(result)
    return ov.Model(results, params, "tfjs_model")


def convert_tfjs(model_json: Path) -> ov.Model:
    return tfjs_to_openvino(load_tfjs(model_json))


__all__ = ["_pad_same", "convert_tfjs", "tfjs_to_openvino"]
