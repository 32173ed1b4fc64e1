"""Letterbox geometry: fit a frame of any size into the network's input keeping its aspect ratio.

Squashing a 16:9 frame into 416×416 makes people 44 % thinner than the network learnt them (and
NanoDet scored clearly visible ones just under the threshold); a letterbox scales the frame by one
factor, centres it and pads the rest with mid-grey. The graph step (:func:`letterbox_step`) runs inside the
model as a custom PrePostProcessor step, so frames still go in as they come; the box mapping
(:func:`LetterboxGeometry.to_frame`) turns the network's normalised boxes back into the frame's. Both
compute the fitted size with the same integer arithmetic, so they agree to the pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

PAD_VALUE = 114  # mid-grey (0..255), the padding value NanoDet/YOLO-style letterboxes use


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where a frame of ``frame_hw`` lands inside an input of ``input_hw``: its fitted size and offsets (pixels)."""

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]
    fitted_hw: tuple[int, int]
    offset_yx: tuple[int, int]

    @classmethod
    def of(cls, frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> LetterboxGeometry:
        (h, w), (sh, sw) = frame_hw, input_hw
        # Rounded to the nearest pixel, in integers (the graph step does exactly this).
        nw = min(sw, (w * sh + h // 2) // h)
        nh = min(sh, (h * sw + w // 2) // w)
        return cls(frame_hw, input_hw, (nh, nw), ((sh - nh) // 2, (sw - nw) // 2))

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """``[N, 4]`` boxes normalised to the network input → normalised to the frame, clipped to 0..1."""
        (sh, sw), (nh, nw), (oy, ox) = self.input_hw, self.fitted_hw, self.offset_yx
        scale = np.array([sw / nw, sh / nh, sw / nw, sh / nh], np.float64)
        shift = np.array([ox / sw, oy / sh, ox / sw, oy / sh], np.float64)
        return np.clip((boxes.astype(np.float64) - shift) * scale, 0.0, 1.0)

    def frame_area(self, input_area: float) -> float:
        """A box's area as a fraction of the input → as a fraction of the frame."""
        (sh, sw), (nh, nw) = self.input_hw, self.fitted_hw
        return input_area * (sh * sw) / (nh * nw)


def letterbox_step(input_hw: tuple[int, int]) -> Callable[[ov.Output], ov.Output]:
    """A PrePostProcessor custom step for an ``[1, H, W, C]`` (NHWC) tensor of any H, W: bilinear resize to
    the fitted size, centred, padded with :data:`PAD_VALUE` to exactly ``input_hw``."""
    sh, sw = input_hw

    def i64(values: list[int]) -> ov.Output:
        return ops.constant(np.array(values, np.int64)).output(0)

    def step(image: ov.Output) -> ov.Output:
        hw = ops.gather(ops.shape_of(image, "i64"), i64([1, 2]), i64([0]))
        h, w = (ops.gather(hw, i64([i]), i64([0])).output(0) for i in (0, 1))
        # nw = min(sw, (w*sh + h//2) // h), nh = min(sh, (h*sw + w//2) // w): i64 division of positives floors.
        half_h = ops.divide(h, i64([2]))
        half_w = ops.divide(w, i64([2]))
        nw = ops.minimum(i64([sw]), ops.divide(ops.add(ops.multiply(w, i64([sh])), half_h), h))
        nh = ops.minimum(i64([sh]), ops.divide(ops.add(ops.multiply(h, i64([sw])), half_w), w))
        sizes = ops.concat([nh, nw], 0)
        resized = ops.interpolate(image, sizes, "linear", "sizes", axes=i64([1, 2]))
        top = ops.divide(ops.subtract(i64([sh]), nh), i64([2]))
        left = ops.divide(ops.subtract(i64([sw]), nw), i64([2]))
        bottom = ops.subtract(ops.subtract(i64([sh]), nh), top)
        right = ops.subtract(ops.subtract(i64([sw]), nw), left)
        zero = i64([0])
        pad_value = ops.constant(np.array(PAD_VALUE), image.get_element_type())
        padded = ops.pad(resized, ops.concat([zero, top, left, zero], 0), ops.concat([zero, bottom, right, zero], 0),
                         "constant", pad_value)
        # The shape is exactly [1, sh, sw, C] now; saying so keeps the network's shapes static.
        channels = image.get_partial_shape()[3].get_length()
        return ops.reshape(padded, i64([1, sh, sw, channels]), special_zero=False).output(0)

    return step
