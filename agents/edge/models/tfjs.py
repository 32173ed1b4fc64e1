"""Reading a TensorFlow.js graph model: ``model.json`` (a GraphDef as JSON plus a weights manifest) and
its weight shards. Weights quantised to float16 or uint8/uint16 are de-quantised to float32 here.

Reference: tfjs-converter's ``model.json`` format (``modelTopology`` holds ``node[]`` with ``name``,
``op``, ``input`` and ``attr``; ``weightsManifest[]`` lists ``paths`` and ``weights[]`` in byte order).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.edge.models.errors import ModelError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "float16": np.float16}


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, Any]

    def attr_int_list(self, key: str) -> list[int]:
        return [int(v) for v in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def attr_str(self, key: str, default: str = "") -> str:
        raw = self.attr.get(key, {}).get("s")
        return base64.b64decode(raw).decode() if raw is not None else default

    def attr_float(self, key: str, default: float) -> float:
        return float(self.attr.get(key, {}).get("f", default))

    def attr_bool(self, key: str, default: bool = False) -> bool:
        return bool(self.attr.get(key, {}).get("b", default))

    def attr_int(self, key: str, default: int = 0) -> int:
        return int(self.attr.get(key, {}).get("i", default))

    def attr_type(self, key: str) -> str:
        """A dtype attribute (``DstT``, ``T``) as TensorFlow names it: ``DT_FLOAT``, ``DT_INT32``, ..."""
        return str(self.attr.get(key, {}).get("type", ""))

    def attr_str_list(self, key: str) -> list[str]:
        return [base64.b64decode(v).decode() for v in self.attr.get(key, {}).get("list", {}).get("s", [])]


@dataclass
class TfjsGraph:
    nodes: list[Node]
    weights: dict[str, np.ndarray]
    inputs: dict[str, tuple[int, ...]]  # placeholder name -> shape
    outputs: list[str]  # output tensor names in signature order ("Identity", "Identity_1", ...)
    metadata: dict[str, Any] = field(default_factory=dict)


def _split_ref(ref: str) -> tuple[str, int]:
    """``"node:1"`` → (``"node"``, 1); control inputs (``^node``) are not expected in inference graphs."""
    if ref.startswith("^"):
        return ref[1:], -1
    name, _, index = ref.partition(":")
    return name, int(index) if index else 0


def _dequantise(raw: bytes, spec: dict[str, Any]) -> tuple[np.ndarray, int]:
    shape = [int(s) for s in spec["shape"]]
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    if quant is None:
        dtype = np.dtype(_DTYPES[spec["dtype"]])
        nbytes = count * dtype.itemsize
        return np.frombuffer(raw[:nbytes], dtype=dtype).reshape(shape).copy(), nbytes
    qdtype = np.dtype(_DTYPES[quant["dtype"]])
    nbytes = count * qdtype.itemsize
    values = np.frombuffer(raw[:nbytes], dtype=qdtype).reshape(shape)
    if quant["dtype"] == "float16":
        out = values.astype(np.float32)
    else:  # affine uint8/uint16 quantisation
        out = values.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
    return out.astype(_DTYPES[spec["dtype"]]), nbytes


def load_tfjs(model_json: Path) -> TfjsGraph:
    """Parse ``model_json`` and its weight shards (found next to it)."""
    try:
        doc = json.loads(model_json.read_text())
        topology = doc["modelTopology"]
        manifest = doc["weightsManifest"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{model_json}: not a TensorFlow.js graph model ({exc})") from None
    if doc.get("format") not in (None, "graph-model"):
        raise ModelError(f"{model_json}: format {doc.get('format')!r} is not a graph model")
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        try:
            blob = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        except OSError as exc:
            raise ModelError(f"{model_json}: weight shard missing ({exc})") from None
        offset = 0
        for spec in group["weights"]:
            value, used = _dequantise(blob[offset:], spec)
            if value.size and used > len(blob) - offset:
                raise ModelError(f"{model_json}: weight shard too short for {spec['name']}")
            weights[spec["name"]] = value
            offset += used
        if offset != len(blob):
            raise ModelError(f"{model_json}: weight shard has {len(blob) - offset} unexpected trailing bytes")
    nodes = [
        Node(n["name"], n["op"], tuple(n.get("input", ())), n.get("attr", {})) for n in topology["node"]
    ]
    inputs: dict[str, tuple[int, ...]] = {}
    for n in nodes:
        if n.op == "Placeholder":
            dims = n.attr.get("shape", {}).get("shape", {}).get("dim", [])
            inputs[n.name] = tuple(int(d.get("size", -1)) for d in dims)
    signature = doc.get("signature") or topology.get("signature") or {}
    outputs = [k.split(":")[0] for k in signature.get("outputs", {})]
    if not outputs:  # no signature: the sinks of the graph
        consumed = {_split_ref(i)[0] for n in nodes for i in n.inputs}
        outputs = [n.name for n in nodes if n.name not in consumed and n.op != "Const"]
    outputs.sort(key=_natural_key)
    meta = {k: v for k, v in doc.items() if k not in ("modelTopology", "weightsManifest")}
    return TfjsGraph(nodes=nodes, weights=weights, inputs=inputs, outputs=outputs, metadata=meta)


def _natural_key(name: str) -> tuple[str, int]:
    base, _, index = name.rpartition("_")
    if base and index.isdigit():
        return base, int(index)
    return name, -1


split_ref = _split_ref
