"""The OpenVINO detector: one compiled model, preprocessing inside it, asynchronous infer requests.

Frames go in as they come from the decoder (H×W×3 uint8 BGR, any size, as ``Frame.bgr()`` gives them): OpenVINO's PrePostProcessor adds
the resize, colour conversion, layout change and normalisation to the model itself, so the frame is wrapped
in a tensor without a copy and the CPU plugin does the rest in its optimised kernels. An
``AsyncInferQueue`` of several requests lets several cameras keep the device busy; results arrive on a
callback, are decoded by the model's family and filtered (per-label thresholds, minimum area, NMS).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from agents.edge.models.families import Candidates, get_family, postprocess
from agents.edge.models.store import StoredModel


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, normalised 0..1

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass
class FilterSettings:
    """What counts as a detection (the detector's part of the config)."""

    labels: set[str] | None = None  # None: every label the model knows
    default_threshold: float = 0.5
    thresholds: dict[str, float] = field(default_factory=dict)
    min_area: float = 0.0005  # fraction of the frame
    iou_threshold: float = 0.5

    @property
    def min_score(self) -> float:
        return min([self.default_threshold, *self.thresholds.values()])


@dataclass
class InferenceResult:
    detections: list[Detection]
    latency_s: float  # submit → result
    userdata: Any


def with_preprocessing(model: ov.Model, family_name: str) -> ov.Model:
    """Add resize/colour/layout/normalisation for BGR uint8 NHWC frames of any size to ``model``."""
    spec = get_family(family_name).input
    ppp = PrePostProcessor(model)
    inp = ppp.input()
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_spatial_dynamic_shape()
    inp.tensor().set_color_format(ColorFormat.BGR)
    pre = inp.preprocess()
    if spec.element_type == "f32":
        pre.convert_element_type(ov.Type.f32)
    if spec.color == "RGB":
        pre.convert_color(ColorFormat.RGB)
    pre.resize(ResizeAlgorithm.RESIZE_LINEAR)
    if spec.mean and any(spec.mean):
        pre.mean(list(spec.mean))
    if spec.scale and any(s != 1.0 for s in spec.scale):
        pre.scale(list(spec.scale))
    inp.model().set_layout(ov.Layout(spec.layout))
    return ppp.build()


class Detector:
    """A compiled model plus its infer-request queue. ``submit`` is thread-safe."""

    def __init__(
        self,
        stored: StoredModel,
        model: ov.Model,
        *,
        device: str = "CPU",
        performance_hint: str = "THROUGHPUT",
        num_requests: int = 0,
        filters: FilterSettings | None = None,
        core: ov.Core | None = None,
        on_result: Callable[[InferenceResult], None] | None = None,
        inference_precision: str | None = None,
    ) -> None:
        self.stored = stored
        self.manifest = stored.manifest
        self.family = get_family(self.manifest.family)
        self.labels = list(self.manifest.labels)
        self.filters = filters or FilterSettings()
        self.on_result = on_result
        shape = self.manifest.input_shape
        layout = self.family.input.layout
        self.input_hw = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        self.core = core or ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
        if num_requests:
            config["PERFORMANCE_HINT_NUM_REQUESTS"] = str(num_requests)
        if inference_precision and device.startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = inference_precision
        self.compiled = self.core.compile_model(with_preprocessing(model, self.manifest.family), device, config)
        # By position: compiling may rename an output tensor, the model's order is kept.
        self.output_names = list(self.manifest.outputs)
        nreq = num_requests or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(self.compiled, max(1, nreq))
        self.queue.set_callback(self._done)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.inferences = 0

    @property
    def ref(self) -> str:
        return self.manifest.ref

    @property
    def capacity(self) -> int:
        return len(self.queue)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, outputs: Mapping[str, np.ndarray]) -> list[Detection]:
        f = self.filters
        cand: Candidates = self.family.decode(outputs, self.input_hw, f.min_score, len(self.labels))
        kept = postprocess(cand, self.labels, f.thresholds, f.default_threshold, f.min_area, f.iou_threshold, f.labels)
        return [
            Detection(self._label(int(c)), float(s), tuple(float(v) for v in b))  # type: ignore[arg-type]
            for b, s, c in zip(kept.boxes, kept.scores, kept.classes, strict=True)
        ]

    def _label(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else f"class_{index}"

    @staticmethod
    def _tensor(frame: np.ndarray) -> ov.Tensor:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be H×W×3 uint8 BGR; got {frame.shape} {frame.dtype}")
        if not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame)
        return ov.Tensor(frame[None], shared_memory=True)

    # -- inference -------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Synchronous inference on one frame (tests, tools); uses its own request."""
        request = self.compiled.create_infer_request()
        request.infer({0: self._tensor(frame)})
        self.inferences += 1
        return self.decode({n: request.get_output_tensor(i).data for i, n in enumerate(self.output_names)})

    def raw(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        request = self.compiled.create_infer_request()
        request.infer({0: self._tensor(frame)})
        return {n: request.get_output_tensor(i).data.copy() for i, n in enumerate(self.output_names)}

    def idle(self) -> bool:
        return self.queue.is_ready()

    def submit(self, frame: np.ndarray, userdata: Any, block: bool = False) -> bool:
        """Start inference on ``frame``; False (and nothing started) when all requests are busy and
        ``block`` is False: the caller drops the frame rather than queueing stale video."""
        if not block and not self.queue.is_ready():
            return False
        with self._lock:
            self._in_flight += 1
        # The frame must stay alive until the request completes: it travels with the userdata.
        self.queue.start_async({0: self._tensor(frame)}, (frame, userdata, time.perf_counter()))
        return True

    def _done(self, request: ov.InferRequest, payload: tuple[np.ndarray, Any, float]) -> None:
        _frame, userdata, started = payload
        try:
            outputs = {n: request.get_output_tensor(i).data for i, n in enumerate(self.output_names)}
            detections = self.decode(outputs)
        finally:
            with self._lock:
                self._in_flight -= 1
                self.inferences += 1
        if self.on_result is not None:
            self.on_result(InferenceResult(detections, time.perf_counter() - started, userdata))

    def wait(self) -> None:
        self.queue.wait_all()
