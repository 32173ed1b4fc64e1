"""The OpenVINO detector: one compiled model, pre- and post-processing inside it, asynchronous infer requests.

Frames go in as they come from the decoder (H×W×3 uint8 BGR, any size, as ``Frame.bgr()`` gives them): OpenVINO's PrePostProcessor adds
the letterbox (or the squashing resize, ``input_fit``), colour conversion, layout change and normalisation to the model
itself, and letterboxed boxes are mapped back to the frame on the callback; so the frame is wrapped
in a tensor without a copy and the CPU plugin does the rest in its optimised kernels. After the network,
:mod:`agents.edge.detection.graph_post` appends the family's decoding, the per-label thresholds, the
minimum area and class-aware NMS as graph operations, so the model's one output is the final detections
and the result callback only turns a few rows into :class:`Detection` objects (~0.05 ms; the numpy
decoders of :mod:`agents.edge.models.families`, the reference, cost 0.5–1 ms with the GIL held on the
callback thread). An ``AsyncInferQueue`` of several requests lets several cameras keep the device busy.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from agents.edge.detection import graph_post
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.device import CPU, choose_device
from agents.edge.detection.letterbox import LetterboxGeometry, letterbox_step
from agents.edge.detection.tiling import TileGrid, Window, merge
from agents.edge.detection.types import InferenceResult
from agents.edge.models.families import Candidates, get_family, postprocess
from agents.edge.models.input_size import at_input_size
from agents.edge.models.store import StoredModel
from agents.edge.tracking.types import Detection
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.detector")

# Without filters: every label, one threshold (the config's other defaults).
UNFILTERED = DetectionSettings(labels=[], thresholds={})


def with_preprocessing(model: ov.Model, family_name: str, letterbox_hw: tuple[int, int] | None = None) -> ov.Model:
    """Add resize/colour/layout/normalisation for BGR uint8 NHWC frames of any size to ``model``;
    ``letterbox_hw`` (the network's input size) keeps the frame's aspect ratio instead of squashing it
    (see :mod:`~agents.edge.detection.letterbox`)."""
    spec = get_family(family_name).input
    ppp = PrePostProcessor(model)
    inp = ppp.input()
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_spatial_dynamic_shape()
    inp.tensor().set_color_format(ColorFormat.BGR)
    pre = inp.preprocess()
    if spec.element_type == "f32":
        pre.convert_element_type(ov.Type.f32)
    # Resize first, then swap the channels: the same values (a channel permutation commutes with a
    # per-channel resize), but on the network's 416×416 instead of the camera's full frame (a Gather over
    # every pixel: ~1.4 ms of CPU per 768×576 frame, 7 % of the inference).
    if letterbox_hw is not None:
        pre.custom(letterbox_step(letterbox_hw))
    else:
        pre.resize(ResizeAlgorithm.RESIZE_LINEAR)
    if spec.color == "RGB":
        pre.convert_color(ColorFormat.RGB)
    if spec.mean and any(spec.mean):
        pre.mean(list(spec.mean))
    if spec.scale and any(s != 1.0 for s in spec.scale):
        pre.scale(list(spec.scale))
    inp.model().set_layout(ov.Layout(spec.layout))
    return ppp.build()


class Detector:
    """A compiled model plus its infer-request queue. ``submit`` is thread-safe.

    ``graph_postprocessing`` (the default, for the families :mod:`~agents.edge.detection.graph_post`
    knows) compiles decoding, thresholds and NMS into the model: ``filters`` are then fixed for the
    detector's life. Without it the raw outputs are decoded with numpy on the callback.
    """

    def __init__(
        self,
        stored: StoredModel,
        model: ov.Model,
        *,
        device: str = "CPU",
        performance_hint: str = "THROUGHPUT",
        num_requests: int = 0,
        filters: DetectionSettings | None = None,
        core: ov.Core | None = None,
        on_result: Callable[[InferenceResult], None] | None = None,
        inference_precision: str | None = None,
        graph_postprocessing: bool = True,
    ) -> None:
        self.stored = stored
        self.manifest = stored.manifest
        self.family = get_family(self.manifest.family)
        self.labels = list(self.manifest.labels)
        self.filters = filters or UNFILTERED
        self.on_result = on_result
        shape = self.manifest.input_shape
        layout = self.family.input.layout
        self.input_hw = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        fit, size = self.filters.input_geometry(self.family)
        if size and (size, size) != self.input_hw:  # a larger input finds smaller objects, at its cost
            model = at_input_size(model, layout, size)
            self.input_hw = (size, size)
        self.core = core or ov.Core()
        # ``device`` as configured ("auto", "GPU", …) → the device compiled for, and why (detection/device.py).
        choice = choose_device(device, self.core.available_devices)
        if choice.fallback:
            log.warning("inference_device_fallback", model=self.manifest.ref, requested=device, device=choice.device,
                        reason=choice.reason)

        def device_config(name: str) -> dict[str, Any]:
            config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
            if num_requests:
                config["PERFORMANCE_HINT_NUM_REQUESTS"] = str(num_requests)
            if inference_precision and name.startswith("CPU"):
                config["INFERENCE_PRECISION_HINT"] = inference_precision
            return config

        self.letterbox = fit == "letterbox"
        # Letterboxed boxes are normalised to the padded input: the minimum area applies after mapping
        # them back to the frame (``_to_frame``), so the model's own filter lets every area through.
        self._model_filters = self.filters.model_copy(update={"min_area": 0.0}) if self.letterbox else self.filters
        # The network with its preprocessing and raw outputs (``raw``; the benchmark's baseline).
        self.preprocessed = with_preprocessing(model, self.manifest.family,
                                               self.input_hw if self.letterbox else None)
        self._raw_compiled: ov.CompiledModel | None = None
        graph = graph_postprocessing and graph_post.supports(self.manifest.family)
        try:
            compiled = self._compile(choice.device, device_config(choice.device), graph)
        except RuntimeError as exc:
            if choice.device == CPU:
                raise
            # A GPU without its compute runtime, an NPU without static shapes: the CPU still detects.
            choice = choice.on_cpu(f"{choice.device} could not compile the model: {_ov_error(exc)}")
            log.warning("inference_device_fallback", model=self.manifest.ref, requested=device, device=CPU,
                        reason=choice.reason)
            compiled = self._compile(CPU, device_config(CPU), graph)
        self.device_choice = choice
        self.device, self.config = choice.device, device_config(choice.device)
        self.graph_postprocessing = self._raw_compiled is None
        self.compiled: ov.CompiledModel = compiled
        # By position: compiling may rename an output tensor, the model's order is kept.
        self.output_names = list(self.manifest.outputs)
        nreq = num_requests or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(self.compiled, max(1, nreq))
        self.queue.set_callback(self._done)
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._in_flight = 0
        self._closed = False  # released (close): submits are refused
        self._geometries: dict[tuple[int, int], LetterboxGeometry] = {}
        self.inferences = 0

    def _compile(self, device: str, config: dict[str, Any], graph: bool) -> ov.CompiledModel:
        """The model for ``device``: with the graph's post-processing (``graph``) where the device runs it,
        else its raw outputs (kept as :attr:`raw_compiled`, decoded with numpy)."""
        if graph:
            try:
                final = graph_post.with_postprocessing(self.preprocessed, self.manifest.family, self.labels,
                                                       self.input_hw, self._model_filters)
                return self.core.compile_model(final, device, config)
            except (ValueError, RuntimeError) as exc:
                # Dynamic output shapes, a device without dynamic shapes (NMS, NonZero): numpy decodes.
                log.warning("graph_postprocessing_unavailable", model=self.manifest.ref, device=device,
                            error=_ov_error(exc))
        self._raw_compiled = self.core.compile_model(self.preprocessed, device, config)
        return self._raw_compiled

    @property
    def raw_compiled(self) -> ov.CompiledModel:
        """The model without graph post-processing (raw outputs), compiled with the same settings."""
        if self._raw_compiled is None:
            self._raw_compiled = self.core.compile_model(self.preprocessed, self.device, self.config)
        return self._raw_compiled

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
    def decode(self, outputs: Mapping[str, np.ndarray], frame_hw: tuple[int, int] | None = None) -> list[Detection]:
        """Raw outputs (by name) → detections, with numpy: the reference for the graph's post-processing.
        ``frame_hw``: the frame's size, to map letterboxed boxes back to it (None: boxes as the network sees)."""
        f = self._model_filters
        cand: Candidates = self.family.decode(outputs, self.input_hw, f.min_score, len(self.labels))
        kept = postprocess(cand, self.labels, f.thresholds, f.threshold, f.min_area, f.nms_iou, f.wanted_labels,
                          f.merged_labels)
        rows = np.column_stack([kept.boxes, kept.scores, kept.classes]).reshape(-1, 6)
        return self.detections(rows, frame_hw)

    def detections(self, final: np.ndarray, frame_hw: tuple[int, int] | None = None) -> list[Detection]:
        """The graph's ``[M, 6]`` output (box, score, class per row, best first) → detections; ``frame_hw``
        as in :meth:`decode`."""
        if self.letterbox and frame_hw is not None and len(final):
            final = self._to_frame(final, frame_hw)
        label = self._label
        return [Detection(label(int(c)), s, (x0, y0, x1, y1)) for x0, y0, x1, y1, s, c in final.tolist()]

    def _to_frame(self, rows: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """Letterboxed rows → boxes normalised to the frame, then the minimum area (of the frame)."""
        geometry = self._geometries.get(frame_hw)
        if geometry is None:  # one per frame size: a camera's size rarely changes
            geometry = self._geometries[frame_hw] = LetterboxGeometry.of(frame_hw, self.input_hw)
        out = rows.astype(np.float64)
        out[:, :4] = geometry.to_frame(rows[:, :4])
        area = np.prod(np.maximum(out[:, 2:4] - out[:, 0:2], 0.0), axis=1)
        return out[area >= self.filters.min_area]

    def _results(self, request: ov.InferRequest, frame_hw: tuple[int, int]) -> list[Detection]:
        if self.graph_postprocessing:
            return self.detections(request.get_output_tensor(0).data, frame_hw)
        return self.decode({n: request.get_output_tensor(i).data for i, n in enumerate(self.output_names)}, frame_hw)

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
    def detect(self, frame: np.ndarray, tiles: TileGrid | None = None) -> list[Detection]:
        """Synchronous inference on one frame (tests, tools); uses its own request. ``tiles``: the full
        frame plus the grid's tiles, merged (:mod:`~agents.edge.detection.tiling`)."""
        if tiles is not None and tiles.tiled:
            hw = (frame.shape[0], frame.shape[1])
            return self._merge([(w, self.detect(self._crop(frame, w))) for w in tiles.windows(hw)])
        request = self.compiled.create_infer_request()
        request.infer({0: self._tensor(frame)})
        self.inferences += 1
        return self._results(request, (frame.shape[0], frame.shape[1]))

    @staticmethod
    def _crop(frame: np.ndarray, window: Window) -> np.ndarray:
        if window.hw == (frame.shape[0], frame.shape[1]):
            return frame
        return np.ascontiguousarray(frame[window.y0:window.y1, window.x0:window.x1])

    def _merge(self, pieces: list[tuple[Window, list[Detection]]]) -> list[Detection]:
        f = self.filters
        return merge(pieces, f.nms_iou, f.merged_labels, f.min_area)

    def raw(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """The network's raw outputs (by name) for ``frame``, as the numpy decoders take them."""
        request = self.raw_compiled.create_infer_request()
        request.infer({0: self._tensor(frame)})
        return {n: request.get_output_tensor(i).data.copy() for i, n in enumerate(self.output_names)}

    def idle(self) -> bool:
        return self.queue.is_ready()

    def submit(self, frame: np.ndarray, userdata: Any, block: bool = False, tiles: TileGrid | None = None) -> bool:
        """Start inference on ``frame``; False (and nothing started) when all requests are busy and
        ``block`` is False: the caller drops the frame rather than queueing stale video. With ``tiles``
        the frame's windows are inferred (the first waits like a frame, the rest for a free request) and
        ``on_result`` gets their merged detections once."""
        if tiles is not None and tiles.tiled:
            return self._submit_tiled(frame, userdata, block, tiles)
        tensor = self._tensor(frame)
        # One submitter at a time: AsyncInferQueue.start_async is not safe to call from several threads
        # (two cameras could be handed the same idle request: "Infer Request is busy", and the request
        # was lost to the queue for good, halving throughput until detection stopped altogether).
        with self._submit_lock:
            if self._closed or (not block and not self.queue.is_ready()):
                return False
            with self._lock:
                self._in_flight += 1
            # The frame must stay alive until the request completes: it travels with the userdata.
            self.queue.start_async({0: tensor}, (frame, userdata, time.perf_counter()))
        return True

    def _submit_tiled(self, frame: np.ndarray, userdata: Any, block: bool, tiles: TileGrid) -> bool:
        windows = tiles.windows((frame.shape[0], frame.shape[1]))
        crops = [self._crop(frame, w) for w in windows]
        started = time.perf_counter()
        group = _TileGroup(len(windows), userdata)
        with self._submit_lock:
            if self._closed or (not block and not self.queue.is_ready()):
                return False
            for index, crop in enumerate(crops):
                with self._lock:
                    self._in_flight += 1
                # The crop stays alive with its payload until its request completes.
                self.queue.start_async({0: self._tensor(crop)}, (crop, _Piece(group, index, windows[index]), started))
        return True

    def _done(self, request: ov.InferRequest, payload: tuple[np.ndarray, Any, float]) -> None:
        frame, userdata, started = payload
        try:
            detections = self._results(request, (frame.shape[0], frame.shape[1]))
        finally:
            with self._lock:
                self._in_flight -= 1
                self.inferences += 1
        if isinstance(userdata, _Piece):
            pieces = userdata.group.add(userdata.index, userdata.window, detections)
            if pieces is None:
                return  # other windows of the frame are still being inferred
            detections, userdata = self._merge(pieces), userdata.group.userdata
        if self.on_result is not None:
            self.on_result(InferenceResult(detections, time.perf_counter() - started, userdata))

    def wait(self) -> None:
        self.queue.wait_all()

    def close(self) -> None:
        """Released (a model swapped out, an input size no camera uses): refuse further submits, deliver what
        is in flight, then let the compiled model go. The queue's callback holds this detector from OpenVINO's
        side, where Python's collector cannot see it: without dropping it the model's memory is never freed."""
        with self._submit_lock:
            self._closed = True
        self.queue.wait_all()
        # A request counts as idle before its completion has unwound (OpenVINO's last stage still holds the
        # callback, and let go of it on its own thread: the detector's last reference dropped there joins that
        # thread from itself and aborts the process). Its own wait ends only once it has.
        for request in self.queue:
            request.wait()
        self.queue.set_callback(_dropped)


def _dropped(request: ov.InferRequest, payload: object) -> None:
    """The callback of a closed detector's queue (nothing can be submitted to it any more)."""


_OV_LOCATION = re.compile(r"(Exception from \S+:\d+:|Check '[^']*' failed at \S+:\d+:)")


def _ov_error(exc: BaseException) -> str:
    """An OpenVINO error's message without the source locations it is wrapped in (``Exception from
    src/…/core.cpp:117:`` lines, one per layer), on one line."""
    lines = [line.strip(" ;") for line in _OV_LOCATION.sub("", str(exc)).splitlines()]
    return " ".join(line for line in lines if line)[:300] or type(exc).__name__


class _TileGroup:
    """The windows of one tiled frame, collected as their requests complete (on OpenVINO's callback threads)."""

    def __init__(self, count: int, userdata: Any) -> None:
        self.userdata = userdata
        self._pieces: list[tuple[Window, list[Detection]] | None] = [None] * count
        self._missing = count
        self._lock = threading.Lock()

    def add(self, index: int, window: Window, detections: list[Detection]) -> list[tuple[Window, list[Detection]]] | None:
        """Record one window's detections; all of them once the last has come, else None."""
        with self._lock:
            self._pieces[index] = (window, detections)
            self._missing -= 1
            if self._missing:
                return None
        return [p for p in self._pieces if p is not None]


class _Piece:
    """The userdata of one window's request."""

    __slots__ = ("group", "index", "window")

    def __init__(self, group: _TileGroup, index: int, window: Window) -> None:
        self.group, self.index, self.window = group, index, window
