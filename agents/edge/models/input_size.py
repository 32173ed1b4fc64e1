"""Run a converted model at another input size: its fixed upsampling sizes and flattening shapes made
shape-aware, then the model reshaped.

The TF.js NanoDet is converted with the sizes of its 416×416 graph written into it: each ``ResizeBilinear``
(the FPN's 2× upsampling) became an ``Interpolate`` to a constant size (13×13 → 26×26), and each head output
a ``Reshape`` to a constant ``[1, C, H·W]``; OpenVINO cannot reshape such a model (the upsampled map no
longer matches the map it is added to). Rewritten here as what they mean — upsample by the same factor,
flatten whatever the grid is — the network runs at any input whose sides are multiples of its largest
stride (32 for NanoDet: the stride-2 convolutions' "same" padding is then the one converted at 416), and
the GFL decoding follows the new grid sizes (they come from the output shapes).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agents.edge.models.errors import ModelValidationError

MULTIPLE = 32  # the largest stride of the families we reshape (NanoDet's strides are 8, 16, 32)
# A model's runtime-info key (kept in its IR) saying why it runs only at the input it was converted at.
FIXED_INPUT = ["guardian", "fixed_input_size"]


def _constant(output: ov.Output) -> np.ndarray | None:
    node = output.get_node()
    return node.get_data() if node.get_type_name() == "Constant" else None


def _shape_aware(model: ov.Model) -> None:
    """In place: constant-size Interpolates → scale factors; constant-shape Reshapes → 0/-1 targets."""
    for node in model.get_ordered_ops():
        kind = node.get_type_name()
        if kind == "Interpolate" and node.get_input_size() == 3 and node.get_attributes().get("shape_calculation_mode") == "sizes":
            sizes, axes = _constant(node.input_value(1)), _constant(node.input_value(2))
            data = node.input_value(0)
            if sizes is None or axes is None or data.get_partial_shape().is_dynamic:
                continue
            dims = data.get_shape()
            scales = np.array([sizes[i] / dims[int(a)] for i, a in enumerate(axes)], np.float32)
            attrs = node.get_attributes()
            scaled = ops.interpolate(data, ops.constant(scales).output(0), attrs["mode"], "scales",
                                     coordinate_transformation_mode=attrs["coordinate_transformation_mode"],
                                     axes=ops.constant(np.asarray(axes, np.int64)).output(0))
            node.output(0).replace(scaled.output(0))
        elif kind == "Reshape":
            target, data = _constant(node.input_value(1)), node.input_value(0)
            if target is None or data.get_partial_shape().is_dynamic:
                continue
            dims = list(data.get_shape())
            # Dimensions kept from the input stay (0 with special_zero); the one that is not becomes -1.
            aware = [0 if i < len(dims) and int(t) == dims[i] else int(t) for i, t in enumerate(target)]
            changed = [i for i, t in enumerate(aware) if t != 0]
            if len(changed) != 1:
                continue
            aware[changed[0]] = -1
            flat = ops.reshape(data, ops.constant(np.asarray(aware, np.int64)).output(0), special_zero=True)
            node.output(0).replace(flat.output(0))


def at_input_size(model: ov.Model, layout: str, size: int) -> ov.Model:
    """``model`` (one NCHW or NHWC input) at a ``size``×``size`` input. Raises ModelValidationError when
    the size is not a multiple of :data:`MULTIPLE` or the graph still cannot take it."""
    if size <= 0 or size % MULTIPLE:
        raise ModelValidationError(model.get_friendly_name(), f"input size {size} is not a multiple of {MULTIPLE}")
    if model.has_rt_info(FIXED_INPUT):
        # Reshaped anyway, such a graph would run and decode boxes at the wrong places, silently.
        raise ModelValidationError(model.get_friendly_name(), f"cannot run at {size}×{size}: "
                                   f"{model.get_rt_info(FIXED_INPUT).astype(str)}")
    shape = list(model.input().get_shape())
    if layout == "NCHW":
        shape[2:4] = [size, size]
    else:
        shape[1:3] = [size, size]
    _shape_aware(model)
    try:
        model.reshape(shape)
    except RuntimeError as exc:
        raise ModelValidationError(model.get_friendly_name(),
                                   f"cannot run at {size}×{size}: {str(exc).splitlines()[0][:200]}") from None
    return model
