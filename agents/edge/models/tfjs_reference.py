"""A plain-numpy interpreter for the TensorFlow.js graph operations the converter supports.

Two jobs: constant folding inside the converter (shape arithmetic such as ``SparseToDense`` on constants),
and an independent second route for checking a converted model: the same graph executed op by op in
numpy (NHWC, as TensorFlow defines the ops) must give the same outputs as the OpenVINO IR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from agents.edge.models.errors import UnsupportedOpError
from agents.edge.models.tfjs import Node, TfjsGraph, split_ref

Value = np.ndarray


def topological_order(nodes: Iterable[Node], targets: Iterable[str]) -> list[Node]:
    """The nodes needed for ``targets``, each after its inputs (iterative DFS; graphs can be deep)."""
    by_name = {n.name: n for n in nodes}
    order: list[Node] = []
    state: dict[str, int] = {}
    for target in targets:
        stack = [(target, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(by_name[name])
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            for ref in by_name[name].inputs:
                src, index = split_ref(ref)
                if index >= 0 and not state.get(src):
                    stack.append((src, False))
    return order


def _pad_same(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def conv2d_nhwc(x: Value, w: Value, strides: list[int], padding: str, dilations: list[int]) -> Value:
    """TensorFlow Conv2D, NHWC input and HWIO filter; grouped when the filter sees fewer channels."""
    n, h, wd, c = x.shape
    kh, kw, ci, co = w.shape
    sh, sw = strides[1], strides[2]
    dh, dw = (dilations[1], dilations[2]) if dilations else (1, 1)
    if padding == "SAME":
        (pt, pb), (pl, pr) = _pad_same(h, kh, sh, dh), _pad_same(wd, kw, sw, dw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        n, h, wd, c = x.shape
    groups = c // ci
    ho = (h - ((kh - 1) * dh + 1)) // sh + 1
    wo = (wd - ((kw - 1) * dw + 1)) // sw + 1
    out = np.zeros((n, ho, wo, co), dtype=np.float32)
    cog = co // groups
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw, :]
            if groups == 1:
                out += patch @ w[i, j]
            else:
                pg = patch.reshape(n, ho, wo, groups, ci)
                wg = w[i, j].reshape(ci, groups, cog).transpose(1, 0, 2)  # (g, ci, cog)
                out += np.einsum("nhwgc,gco->nhwgo", pg, wg).reshape(n, ho, wo, co)
    return out


def depthwise_conv2d_nhwc(x: Value, w: Value, strides: list[int], padding: str, dilations: list[int]) -> Value:
    """TensorFlow DepthwiseConv2dNative: filter [kH, kW, C, multiplier], output channel c·multiplier + m,
    which is a Conv2D with C groups of one input channel each."""
    kh, kw, c, m = w.shape
    return conv2d_nhwc(x, w.reshape(kh, kw, 1, c * m), strides, padding, dilations)


# The activations TensorFlow's grappler fuses into a convolution after its BiasAdd (``fused_ops``).
ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "Relu": lambda x: np.maximum(x, 0),
    "Relu6": lambda x: np.clip(x, 0, 6),
}


def fused_activation(node: Node) -> str | None:
    """The activation of a ``_FusedConv2D``/``FusedDepthwiseConv2dNative`` (``BiasAdd`` then at most one
    of :data:`ACTIVATIONS`); anything else fused (batch norm, PReLU) is refused."""
    fused = node.attr_str_list("fused_ops")
    if not fused or fused[0] != "BiasAdd" or len(fused) > 2 or any(f not in ACTIVATIONS for f in fused[1:]):
        raise UnsupportedOpError(f"{node.op}(fused_ops={'+'.join(fused)})", node.name)
    return fused[1] if len(fused) == 2 else None


def _fused(node: Node, conv: Callable[..., Value], a: list[Value]) -> Value:
    act = fused_activation(node)
    y = conv(a[0], a[1], node.attr_int_list("strides"), node.attr_str("padding"), node.attr_int_list("dilations")) + a[2]
    return ACTIVATIONS[act](y) if act else y


def max_pool_nhwc(x: Value, ksize: list[int], strides: list[int], padding: str) -> Value:
    kh, kw, sh, sw = ksize[1], ksize[2], strides[1], strides[2]
    if padding == "SAME":  # TF pads with -inf: a padded cell never wins
        (pt, pb), (pl, pr) = _pad_same(x.shape[1], kh, sh, 1), _pad_same(x.shape[2], kw, sw, 1)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    elif padding != "VALID":
        raise UnsupportedOpError(f"MaxPool(padding={padding})", "")
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    out = np.full((x.shape[0], ho, wo, x.shape[3]), -np.inf, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, x[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :])
    return out


def resize_bilinear_nhwc(x: Value, size: Value, half_pixel: bool, align_corners: bool) -> Value:
    def axis_weights(n_in: int, n_out: int) -> tuple[Value, Value, Value]:
        dst = np.arange(n_out, dtype=np.float64)
        if align_corners and n_out > 1:
            src = dst * (n_in - 1) / (n_out - 1)
        elif half_pixel:
            src = (dst + 0.5) * n_in / n_out - 0.5
        else:
            src = dst * n_in / n_out
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    oh, ow = int(size[0]), int(size[1])
    y0, y1, fy = axis_weights(x.shape[1], oh)
    x0, x1, fx = axis_weights(x.shape[2], ow)
    rows = x[:, y0] * (1 - fy)[None, :, None, None] + x[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def _pads(p: Value) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in np.asarray(p).reshape(-1, 2)]


def _split_v(x: Value, lengths: Value, axis: Value) -> list[Value]:
    ax = int(axis)
    sizes = [int(v) for v in lengths]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[ax] - (sum(sizes) + 1)
    return np.split(x, np.cumsum(sizes)[:-1], axis=ax)


def _sparse_to_dense(node: Node, idx: Value, shape: Value, values: Value, default: Value) -> Value:
    dims = [int(s) for s in np.atleast_1d(shape)]
    out = np.full(dims, default, dtype=np.asarray(default).dtype)
    idx = np.asarray(idx)
    if idx.size:
        idx = idx.reshape(-1, len(dims)) if idx.ndim > 1 or len(dims) > 1 else idx.reshape(-1, 1)
        vals = np.broadcast_to(np.asarray(values), (idx.shape[0],))
        for k, i in enumerate(idx):
            out[tuple(i)] = vals[k]
    return out


def strided_slice(node: Node, x: Value, begin: Value, end: Value, strides: Value) -> Value:
    """TensorFlow StridedSlice with begin/end/shrink masks (the ellipsis and new-axis masks are refused)."""
    if node.attr_int("ellipsis_mask") or node.attr_int("new_axis_mask"):
        raise UnsupportedOpError("StridedSlice(ellipsis_mask/new_axis_mask)", node.name)
    bm, em, sm = node.attr_int("begin_mask"), node.attr_int("end_mask"), node.attr_int("shrink_axis_mask")
    index: list[int | slice] = []
    for i, (b, e, st) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist(), strict=True)):
        if sm >> i & 1:
            index.append(int(b))
        else:
            index.append(slice(None if bm >> i & 1 else int(b), None if em >> i & 1 else int(e), int(st)))
    return np.asarray(x[tuple(index)])


def top_k(x: Value, k: Value) -> list[Value]:
    """TensorFlow TopKV2 (sorted): the k largest along the last axis, ties to the lower index."""
    idx = np.argsort(-x, axis=-1, kind="stable")[..., : int(k)]
    return [np.take_along_axis(x, idx, axis=-1), idx.astype(np.int32)]


def gather(node: Node, params: Value, indices: Value, axis: Value) -> Value:
    if node.attr_int("batch_dims"):
        raise UnsupportedOpError("GatherV2(batch_dims)", node.name)
    return np.take(params, indices, axis=int(axis))


TF_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_BOOL": np.bool_}


def cast(node: Node, x: Value) -> Value:
    dtype = TF_DTYPES.get(node.attr_type("DstT"))
    if dtype is None:
        raise UnsupportedOpError(f"Cast(DstT={node.attr_type('DstT')})", node.name)
    return np.asarray(x).astype(dtype)


OpFn = Callable[[Node, list[Value]], list[Value]]

OPS: dict[str, OpFn] = {
    "Identity": lambda n, a: [a[0]],
    "Add": lambda n, a: [a[0] + a[1]],
    "AddV2": lambda n, a: [a[0] + a[1]],
    "Sub": lambda n, a: [a[0] - a[1]],
    "Mul": lambda n, a: [a[0] * a[1]],
    "Transpose": lambda n, a: [np.transpose(a[0], [int(p) for p in a[1]])],
    "Reshape": lambda n, a: [np.reshape(a[0], [int(s) for s in a[1]])],
    "Sigmoid": lambda n, a: [(1.0 / (1.0 + np.exp(-a[0]))).astype(np.float32)],
    "Relu": lambda n, a: [np.maximum(a[0], 0)],
    "LeakyRelu": lambda n, a: [np.where(a[0] >= 0, a[0], a[0] * np.float32(n.attr_float("alpha", 0.2)))],
    "Pad": lambda n, a: [np.pad(a[0], _pads(a[1]))],
    "PadV2": lambda n, a: [np.pad(a[0], _pads(a[1]), constant_values=a[2])],
    "ConcatV2": lambda n, a: [np.concatenate(a[:-1], axis=int(a[-1]))],
    "SplitV": lambda n, a: _split_v(a[0], a[1], a[2]),
    "SparseToDense": lambda n, a: [_sparse_to_dense(n, *a)],
    "Conv2D": lambda n, a: [
        conv2d_nhwc(a[0], a[1], n.attr_int_list("strides"), n.attr_str("padding"), n.attr_int_list("dilations"))
    ],
    "_FusedConv2D": lambda n, a: [_fused(n, conv2d_nhwc, a)],
    "DepthwiseConv2dNative": lambda n, a: [
        depthwise_conv2d_nhwc(a[0], a[1], n.attr_int_list("strides"), n.attr_str("padding"), n.attr_int_list("dilations"))
    ],
    "FusedDepthwiseConv2dNative": lambda n, a: [_fused(n, depthwise_conv2d_nhwc, a)],
    "Relu6": lambda n, a: [np.clip(a[0], 0, 6)],
    "Mean": lambda n, a: [
        np.mean(a[0], axis=tuple(int(i) for i in np.atleast_1d(a[1])), keepdims=n.attr_bool("keep_dims")).astype(a[0].dtype)
    ],
    "Cast": lambda n, a: [cast(n, a[0])],
    "Equal": lambda n, a: [np.equal(a[0], a[1])],
    "ExpandDims": lambda n, a: [np.expand_dims(a[0], int(np.asarray(a[1]).reshape(-1)[0]))],
    "FloorDiv": lambda n, a: [np.floor_divide(a[0], a[1])],
    "FloorMod": lambda n, a: [np.mod(a[0], a[1])],
    "StridedSlice": lambda n, a: [strided_slice(n, *a)],
    "TopKV2": lambda n, a: top_k(a[0], a[1]),
    "GatherV2": lambda n, a: [gather(n, *a)],
    "MaxPool": lambda n, a: [max_pool_nhwc(a[0], n.attr_int_list("ksize"), n.attr_int_list("strides"), n.attr_str("padding"))],
    "ResizeBilinear": lambda n, a: [
        resize_bilinear_nhwc(a[0], a[1], n.attr_bool("half_pixel_centers"), n.attr_bool("align_corners"))
    ],
}


def check_data_format(node: Node) -> None:
    fmt = node.attr_str("data_format", "NHWC")
    if fmt != "NHWC":
        raise UnsupportedOpError(f"{node.op}(data_format={fmt})", node.name)


def evaluate(node: Node, args: list[Value]) -> list[Value]:
    fn = OPS.get(node.op)
    if fn is None:
        raise UnsupportedOpError(node.op, node.name)
    if node.op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "MaxPool"):
        check_data_format(node)
    return fn(node, args)


def run_reference(graph: TfjsGraph, feeds: dict[str, Value]) -> list[Value]:
    """Execute ``graph`` in numpy; returns the outputs in ``graph.outputs`` order."""
    values: dict[str, list[Value]] = {}
    for node in topological_order(graph.nodes, graph.outputs):
        if node.op == "Placeholder":
            values[node.name] = [np.asarray(feeds[node.name], dtype=np.float32)]
        elif node.op == "Const":
            values[node.name] = [graph.weights[node.name]]
        else:
            args = []
            for ref in node.inputs:
                src, index = split_ref(ref)
                if index >= 0:
                    args.append(values[src][index])
            values[node.name] = evaluate(node, args)
    return [values[name][0] for name in graph.outputs]
