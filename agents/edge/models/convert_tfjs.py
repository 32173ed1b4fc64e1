"""TensorFlow.js graph model → OpenVINO model, built directly with OpenVINO's opset API.

No TensorFlow and no intermediate GraphDef: each TF op of the graph becomes the equivalent OpenVINO
op. TF ops are NHWC; OpenVINO's convolution and pooling are NCHW. A convolution's output stays NCHW
(:class:`Nchw`) through the ops that do not care about the layout (activations, element-wise arithmetic
with another NCHW tensor or a broadcast constant, means over the spatial axes, channel concatenation,
resizing, the next convolution) and is transposed back to NHWC only where an op needs TF's layout. The
CPU plugin does not sink a transpose through its fused element-wise subgraphs: wrapped per convolution,
MobileNetV3-CenterNet kept ~100 transposes at run time (more CPU than its convolutions) and NanoDet 75
(80 → 66 ms of CPU per 416×416 inference without them, the same outputs). Sub-graphs whose inputs are all constant
(shape arithmetic such as ``SparseToDense`` on constants) are folded in numpy by the reference
interpreter, so the converter and :mod:`agents.edge.models.tfjs_reference` share their semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agents.edge.models.errors import ModelError, UnsupportedOpError
from agents.edge.models.tfjs import Node, TfjsGraph, load_tfjs, split_ref
from agents.edge.models.tfjs_reference import (
    _pad_same,
    check_data_format,
    evaluate,
    fused_activation,
    topological_order,
)

Out: TypeAlias = ov.Output
Val = "Out | np.ndarray"

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


class Nchw:
    """A 4-D activation held in NCHW; :meth:`nhwc` is its TF-layout view (one transpose, made once)."""

    def __init__(self, out: Out) -> None:
        self.out = out
        self._nhwc: Out | None = None

    def nhwc(self) -> Out:
        if self._nhwc is None:
            self._nhwc = ops.transpose(self.out, _c(np.array(NCHW_TO_NHWC, np.int64))).output(0)
        return self._nhwc


def _nchw_input(value: Nchw | Out | np.ndarray) -> Out:
    if isinstance(value, Nchw):
        return value.out
    return ops.transpose(_as_out(value), _c(np.array(NHWC_TO_NCHW, np.int64))).output(0)


def _nchw_const(value: np.ndarray) -> np.ndarray | None:
    """A constant that broadcasts against an NHWC tensor → the same constant for its NCHW form (None when
    it has more than 4 dimensions)."""
    if value.ndim > 4:
        return None
    return np.ascontiguousarray(value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(NHWC_TO_NCHW))


def _c(value: np.ndarray) -> Out:
    return ops.constant(np.asarray(value)).output(0)


def _as_out(value: Out | np.ndarray) -> Out:
    return _c(value) if isinstance(value, np.ndarray) else value


def _const(value: Out | np.ndarray, node: Node, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    raise UnsupportedOpError(f"{node.op} with a computed {what}", node.name)


def _conv_nchw(node: Node, a: list, depthwise: bool = False) -> Out:
    """Conv2D (HWIO filter, grouped when it sees fewer channels than the input has) or DepthwiseConv2dNative
    ([kH, kW, C, multiplier] filter), to NCHW (the caller adds bias/activation)."""
    check_data_format(node)
    x = _nchw_input(a[0])
    w = _const(a[1], node, "filter")
    strides = node.attr_int_list("strides")[1:3]
    dil = node.attr_int_list("dilations")[1:3] or [1, 1]
    padding = node.attr_str("padding")
    if padding == "SAME":
        pad_mode, pb, pe = "same_upper", [0, 0], [0, 0]
    elif padding == "VALID":
        pad_mode, pb, pe = "explicit", [0, 0], [0, 0]
    else:
        raise UnsupportedOpError(f"{node.op}(padding={padding})", node.name)
    if depthwise:  # [kH, kW, C, M] → GroupConvolution [C, M, 1, kH, kW]
        wg = w.transpose(2, 3, 0, 1)[:, :, None].copy()
        return ops.group_convolution(x, _c(wg), strides, pb, pe, dil, pad_mode).output(0)
    cin = x.get_partial_shape()[1].get_length()
    kh, kw, ci, co = w.shape
    groups = cin // ci
    if groups == 1:
        return ops.convolution(x, _c(w.transpose(3, 2, 0, 1).copy()), strides, pb, pe, dil, pad_mode).output(0)
    # OpenVINO GroupConvolution filter: [G, O/G, I/G, kH, kW]
    wg = w.transpose(3, 2, 0, 1).reshape(groups, co // groups, ci, kh, kw).copy()
    return ops.group_convolution(x, _c(wg), strides, pb, pe, dil, pad_mode).output(0)


def _conv(node: Node, a: list) -> list:
    return [Nchw(_conv_nchw(node, a))]


def _depthwise(node: Node, a: list) -> list:
    return [Nchw(_conv_nchw(node, a, depthwise=True))]


def _fused_conv(node: Node, a: list) -> list:
    """``_FusedConv2D``/``FusedDepthwiseConv2dNative``: the convolution, its BiasAdd, then the activation
    (grappler's fusion, undone here; OpenVINO fuses them again when it compiles)."""
    act = fused_activation(node)
    y = _conv_nchw(node, a, depthwise=node.op == "FusedDepthwiseConv2dNative")
    bias = _const(a[2], node, "bias").astype(np.float32)
    y = ops.add(y, _c(bias.reshape(1, -1, 1, 1))).output(0)
    if act == "Relu":
        y = ops.relu(y).output(0)
    elif act == "Relu6":
        y = ops.clamp(y, 0.0, 6.0).output(0)
    return [Nchw(y)]


def _max_pool(node: Node, a: list) -> list:
    check_data_format(node)
    k = node.attr_int_list("ksize")[1:3]
    s = node.attr_int_list("strides")[1:3]
    padding = node.attr_str("padding")
    pool = ops.max_pool(_nchw_input(a[0]), s, [1, 1], [0, 0], [0, 0], k, "floor",
                        "same_upper" if padding == "SAME" else "explicit")
    return [Nchw(pool.output(0))]


def _resize(node: Node, a: list) -> list:
    size = _const(a[1], node, "size").astype(np.int64)
    if node.attr_bool("align_corners"):
        mode = "align_corners"
    elif node.attr_bool("half_pixel_centers"):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    nchw = isinstance(a[0], Nchw)
    y = ops.interpolate(
        a[0].out if nchw else _as_out(a[0]), _c(size), mode="linear", shape_calculation_mode="sizes",
        coordinate_transformation_mode=mode, axes=_c(np.array([2, 3] if nchw else [1, 2], np.int64)),
    ).output(0)
    return [Nchw(y) if nchw else y]


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


def _cast(node: Node, a: list) -> list:
    ov_type = _OV_TYPES.get(node.attr_type("DstT"))
    if ov_type is None:
        raise UnsupportedOpError(f"Cast(DstT={node.attr_type('DstT')})", node.name)
    return [ops.convert(_as_out(a[0]), ov_type).output(0)]


def _floor_div(node: Node, a: list) -> list:
    x, y = _as_out(a[0]), _as_out(a[1])
    # OpenVINO's Divide floors integer quotients (Python division), as TF's FloorDiv; floats need a Floor.
    q = ops.divide(x, y).output(0)
    return [q if x.get_element_type().is_integral() else ops.floor(q).output(0)]


def _strided_slice(node: Node, a: list) -> list:
    if node.attr_int("ellipsis_mask") or node.attr_int("new_axis_mask"):
        raise UnsupportedOpError("StridedSlice(ellipsis_mask/new_axis_mask)", node.name)
    begin = _const(a[1], node, "begin").astype(np.int64)
    end = _const(a[2], node, "end").astype(np.int64)
    strides = _const(a[3], node, "strides").astype(np.int64)

    def bits(key: str) -> list[int]:  # TF's bit field → OpenVINO's one flag per axis
        return [node.attr_int(key) >> i & 1 for i in range(len(begin))]

    y = ops.strided_slice(_as_out(a[0]), _c(begin), _c(end), _c(strides), bits("begin_mask"), bits("end_mask"),
                          shrink_axis_mask=bits("shrink_axis_mask"))
    return [y.output(0)]


def _top_k(node: Node, a: list) -> list:
    k = _c(_const(a[1], node, "k").astype(np.int64).reshape(()))
    # Sorted by value, ties to the lower index, as TF's TopKV2 — in two steps: the CPU plugin's stable
    # value-sorted TopK over CenterNet's 1.3 M heat-map cells takes ~500 ms, index-sorted ~3 ms; the k
    # chosen (in index order) are then sorted by value, stably, which keeps ties in index order.
    chosen = ops.topk(_as_out(a[0]), k, -1, "max", "index", "i32", stable=True)
    ranked = ops.topk(chosen.output(0), k, -1, "max", "value", "i32", stable=True)
    index = ops.gather(chosen.output(1), ranked.output(1), _c(np.array(-1, np.int64)), 1)
    return [ranked.output(0), index.output(0)]


def _gather(node: Node, a: list) -> list:
    axis = int(_const(a[2], node, "axis").reshape(-1)[0])
    y = ops.gather(_as_out(a[0]), _as_out(a[1]), _c(np.array(axis, np.int64)), node.attr_int("batch_dims"))
    return [y.output(0)]


def _mean(node: Node, a: list) -> list:
    axes = _const(a[1], node, "reduction axes").astype(np.int64).reshape(-1)
    keep = node.attr_bool("keep_dims")
    if isinstance(a[0], Nchw) and keep:  # the same axes, named in NCHW
        nchw_axes = np.array([NHWC_TO_NCHW.index(int(ax) % 4) for ax in axes], np.int64)
        return [Nchw(ops.reduce_mean(a[0].out, _c(nchw_axes), True).output(0))]
    return [ops.reduce_mean(_nhwc(a[0]), _c(axes), keep).output(0)]


def _nhwc(value: Nchw | Out | np.ndarray) -> Out:
    return value.nhwc() if isinstance(value, Nchw) else _as_out(value)


def _elementwise(fn: Callable) -> Callable[[Node, list], list]:
    """An element-wise op: in NCHW when an operand is NCHW and the others are NCHW or constants."""

    def build(node: Node, a: list) -> list:
        if any(isinstance(v, Nchw) for v in a):
            converted = [v.out if isinstance(v, Nchw) else _nchw_const(v) if isinstance(v, np.ndarray) else None
                         for v in a]
            if all(c is not None for c in converted):
                return [Nchw(fn(*[_as_out(c) for c in converted]).output(0))]
        return [fn(*[_nhwc(v) for v in a]).output(0)]

    return build


def _concat(node: Node, a: list) -> list:
    axis = int(a[-1])
    if all(isinstance(v, Nchw) for v in a[:-1]) and axis in (3, -1):  # channels: axis 1 in NCHW
        return [Nchw(ops.concat([v.out for v in a[:-1]], 1).output(0))]
    return [ops.concat([_nhwc(v) for v in a[:-1]], axis).output(0)]


_OV_TYPES = {"DT_FLOAT": "f32", "DT_INT32": "i32", "DT_INT64": "i64", "DT_BOOL": "boolean"}


def _binary(fn: Callable) -> Callable[[Node, list], list]:
    return lambda n, a: [fn(_as_out(a[0]), _as_out(a[1])).output(0)]


# The builders that take NCHW operands (Nchw) as they are; the others get them as NHWC.
LAYOUT_AWARE: dict[str, Callable[[Node, list], list]] = {
    "Identity": lambda n, a: [a[0]],
    "Add": _elementwise(ops.add),
    "AddV2": _elementwise(ops.add),
    "Sub": _elementwise(ops.subtract),
    "Mul": _elementwise(ops.multiply),
    "Sigmoid": _elementwise(ops.sigmoid),
    "Relu": _elementwise(ops.relu),
    "Relu6": _elementwise(lambda x: ops.clamp(x, 0.0, 6.0)),
    "Equal": _elementwise(ops.equal),
    "Cast": lambda n, a: [Nchw(_cast(n, [a[0].out])[0]) if isinstance(a[0], Nchw) else _cast(n, a)[0]],
    "ConcatV2": _concat,
    "Conv2D": _conv,
    "_FusedConv2D": _fused_conv,
    "DepthwiseConv2dNative": _depthwise,
    "FusedDepthwiseConv2dNative": _fused_conv,
    "Mean": _mean,
    "MaxPool": _max_pool,
    "ResizeBilinear": _resize,
}

BUILDERS: dict[str, Callable[[Node, list], list]] = {
    "Transpose": lambda n, a: [ops.transpose(_as_out(a[0]), _c(np.asarray(a[1], np.int64))).output(0)],
    "Reshape": lambda n, a: [ops.reshape(_as_out(a[0]), _c(np.asarray(a[1], np.int64)), False).output(0)],
    "LeakyRelu": _leaky,
    "Pad": _pad,
    "PadV2": _pad,
    "SplitV": _split_v,
    "ExpandDims": lambda n, a: [ops.unsqueeze(_as_out(a[0]), _c(np.asarray(a[1], np.int64).reshape(-1))).output(0)],
    "FloorDiv": _floor_div,
    "FloorMod": _binary(ops.floor_mod),
    "StridedSlice": _strided_slice,
    "TopKV2": _top_k,
    "GatherV2": _gather,
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
        aware = LAYOUT_AWARE.get(node.op)
        if aware is not None:
            values[node.name] = aware(node, args)
            continue
        builder = BUILDERS.get(node.op)
        if builder is None:
            raise UnsupportedOpError(node.op, node.name)
        values[node.name] = builder(node, [_nhwc(v) if isinstance(v, Nchw) else v for v in args])
    results = []
    for name in graph.outputs:
        out = _nhwc(values[name][0])
        result = ops.result(out)
        result.output(0).get_tensor().set_names({name})
        results.append(result)
    return ov.Model(results, params, "tfjs_model")


def convert_tfjs(model_json: Path, outputs: Sequence[str] | None = None) -> ov.Model:
    """``outputs``: the graph outputs to keep (default: all of them, in signature order); the others, and
    what only they need, are left out of the model."""
    graph = load_tfjs(model_json)
    if outputs is not None:
        unknown = sorted(set(outputs) - set(graph.outputs))
        if unknown:
            raise ModelError(f"{model_json}: no output {', '.join(unknown)} (has {', '.join(graph.outputs)})")
        graph = replace(graph, outputs=list(outputs))
    return tfjs_to_openvino(graph)


__all__ = ["_pad_same", "convert_tfjs", "tfjs_to_openvino"]
