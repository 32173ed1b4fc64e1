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


def max_pool_nhwc(x: Value, ksize: list[int], strides: list[int], padding: str) -> Value:
    if padding != "VALID":
        raise UnsupportedOpError("MaxPool(padding=SAME)", "")
    kh, kw, sh, sw = ksize[1], ksize[2], strides[1], strides[2]
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
    if node.op in ("Conv2D", "MaxPool"):
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
