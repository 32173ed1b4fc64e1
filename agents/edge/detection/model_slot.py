"""The model in use and its hot swap.

The active model is polled in the store; a new activation is validated and swapped in without a restart.
If validation fails, the running model stays and the failure is logged and counted. Without a usable
model (an empty store, a corrupt file) the slot stays empty, says why, and keeps looking.

A camera may ask for its own network input size (its ``detection.input_size``; a larger input finds smaller,
more distant objects at a higher cost per inference). The slot keeps one compiled model per size in use: the
edge's default one (``[detection] input_size``, 0: the model family's own, else the model's) and one for each other size the cameras
ask for (:meth:`ModelSlot.use_sizes`, on every camera reload), compiled when a camera first asks for it,
shared by the cameras of that size and released once none does. A new activation swaps them all together.
A size the model cannot take (a family that cannot be reshaped) is said once, and its cameras get the default.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.types import InferenceResult
from agents.edge.models.errors import ModelError
from agents.edge.models.store import ModelStore, StoredModel
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.detector")


class ModelSlot:
    """Holds the current :class:`Detector` (or None while there is no usable model).

    ``on_result`` goes to every detector it loads; ``on_change`` is called with a new detector before
    the one it replaces is drained, so what comes next is attributed to the new model.
    """

    def __init__(self, store: ModelStore, settings: DetectionSettings, metrics: DetectorMetrics,
                 on_result: Callable[[InferenceResult], None], on_change: Callable[[Detector], None]) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.on_result = on_result
        self.on_change = on_change
        self.detector: Detector | None = None
        self.problem = ""  # why there is no model, while there is none
        self.loading = True  # the first load is still to come
        self._active_token = store.active_token()
        # Sizes other than the default's, by side; replaced whole, never mutated (camera threads read it).
        self._sized: dict[int, Detector] = {}
        self._asked: tuple[int, ...] = ()  # each camera's size (0: the default), as use_sizes last had them
        self._unavailable: set[int] = set()  # sizes the current model cannot take (said once)
        self._gauges: set[str] = set()  # the input_size labels of detection_input_size_cameras shown
        self._lock = threading.Lock()  # model loads and size changes take turns (two supervisor threads)

    @property
    def ref(self) -> str:
        return self.detector.ref if self.detector is not None else ""

    def first_model_name(self) -> str:
        """The model the first load takes: the store's active one, else the configured name."""
        try:
            pointer = json.loads(self.store.active_file.read_text())
        except (OSError, ValueError):
            return self.settings.model
        return str(pointer.get("name") or self.settings.model) if isinstance(pointer, dict) else self.settings.model

    def _no_model(self, exc: ModelError) -> None:
        self.problem = str(exc)
        self.metrics.model_loaded.set(0)
        log.warning("no_usable_model", error=str(exc), store=str(self.store.root))

    def _initial_model(self) -> StoredModel:
        active = self.store.active()
        if active is not None:
            return active
        try:
            return self.store.get(self.settings.model)
        except ModelError:
            raise ModelError(
                f"no model in {self.store.root}: run `guardian-edge models fetch {self.settings.model}`"
            ) from None

    def _load(self, stored: StoredModel, size: int = 0) -> Detector:
        """``stored`` compiled for the cameras, at the edge's default input size or at ``size`` (a side)."""
        d = self.settings
        try:
            model = self.store.load(stored)
            detector = Detector(stored, model, device=d.device, performance_hint=d.performance_hint,
                                num_requests=d.infer_requests, filters=self._filters(size), on_result=self.on_result)
        except GuardianError:
            self.metrics.reloads.labels("refused").inc()
            raise
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.model_loaded.set(1)
        self.metrics.model.info({"name": stored.manifest.name, "version": stored.manifest.version,
                                 "family": stored.manifest.family, "device": detector.device})
        choice = detector.device_choice  # "auto" or the configured device, resolved (detection/device.py)
        self.metrics.device.info({"requested": choice.requested, "device": choice.device})
        log.info("model_loaded", model=stored.manifest.ref, device=choice.device, requested=choice.requested,
                 device_reason=choice.reason, requests=detector.capacity, input_size=detector.input_hw[0])
        return detector

    def _filters(self, size: int) -> DetectionSettings:
        filters = self.settings.for_cameras()
        return filters.model_copy(update={"input_size": size}) if size else filters

    # -- input sizes -----------------------------------------------------------------------------
    def detector_for(self, size: int) -> Detector | None:
        """The detector for a camera asking for input ``size`` (0: the edge's default): the one compiled at
        that size, or the default one (the default's own size, a size not compiled or not possible)."""
        return self._sized.get(size, self.detector) if size else self.detector

    @property
    def sizes(self) -> dict[int, Detector]:
        """Every compiled detector by its input side, the default one included."""
        default = self.detector
        return {**({default.input_hw[0]: default} if default is not None else {}), **self._sized}

    def use_sizes(self, asked: Sequence[int]) -> None:
        """The input size each watched camera asks for (0: the edge's default): compile the sizes not yet
        compiled, release those no camera asks for any more. Cheap when nothing changed (every camera reload)."""
        asked = tuple(sorted(asked))
        with self._lock:
            if asked == self._asked:
                return
            self._asked = asked
            default = self.detector
            if default is None:
                return  # the first load compiles them
            stored = default.stored
            sized = {size: d for size, d in self._sized.items() if size in asked}
            for size in sorted(set(asked) - set(sized)):
                detector = self._load_size(stored, default, size)
                if detector is not None:
                    sized[size] = detector
            released = [d for size, d in self._sized.items() if size not in sized]
            self._sized = sized
            self._show_sizes()
        for detector in released:
            detector.close()  # what its cameras submitted still comes back; then its memory goes
            log.info("input_size_released", model=detector.ref, input_size=detector.input_hw[0])

    def _load_size(self, stored: StoredModel, default: Detector, size: int) -> Detector | None:
        """``stored`` at ``size``, or None when the default serves it (its own size, or one the model cannot take)."""
        if not size or default.input_hw == (size, size) or size in self._unavailable:
            return None
        try:
            detector = self._load(stored, size)
        except GuardianError as exc:
            self._unavailable.add(size)
            log.error("input_size_unavailable", model=stored.manifest.ref, input_size=size,
                      default=default.input_hw[0], error=str(exc)[:200])
            return None
        log.info("input_size_compiled", model=stored.manifest.ref, input_size=size)
        return detector

    def _load_sizes(self, stored: StoredModel, default: Detector) -> dict[int, Detector]:
        """``stored`` at every size the cameras ask for, beside ``default``."""
        self._unavailable = set()  # another model may take what the last one could not
        loaded = {size: self._load_size(stored, default, size) for size in sorted(set(self._asked))}
        return {size: detector for size, detector in loaded.items() if detector is not None}

    def _show_sizes(self) -> None:
        """``detection_input_size_cameras``: cameras per input size in use (a size served by the default
        counts as the default's)."""
        default = self.detector
        if default is None:
            return
        counts = Counter(size if size in self._sized else default.input_hw[0] for size in self._asked)
        shown = {str(size): n for size, n in counts.items()} | {str(default.input_hw[0]): counts[default.input_hw[0]]}
        for label in self._gauges - shown.keys():
            self.metrics.input_size_cameras.remove(label)
        for label, n in shown.items():
            self.metrics.input_size_cameras.labels(label).set(n)
        self._gauges = set(shown)

    @property
    def in_flight(self) -> int:
        return sum(d.in_flight for d in self.sizes.values())

    # -- the model -------------------------------------------------------------------------------
    def check(self) -> bool:
        """Load the first model, or swap in a newly activated one; True when the detector changed. A
        model that fails validation is refused and the running one is kept."""
        with self._lock:
            return self._check()

    def _check(self) -> bool:
        token = self.store.active_token()
        if self.detector is None:
            return self._first_model(token)
        if token == self._active_token:
            return False
        self._active_token = token
        try:
            stored = self.store.active()
            if stored is None or stored.manifest.ref == self.detector.ref:
                return False
            new = self._load(stored)
        except GuardianError as exc:
            log.error("model_refused", error=str(exc), keeping=self.detector.ref)
            return False
        # Every size the cameras use, in the new model, before any camera moves to it.
        old, old_ref = self.sizes.values(), self.detector.ref
        self._sized = self._load_sizes(stored, new)
        self.detector = new
        self._show_sizes()
        self.on_change(new)
        for detector in old:
            detector.close()
        log.info("model_swapped", old=old_ref, new=new.ref, input_sizes=sorted(self.sizes))
        return True

    def _first_model(self, token: str | None) -> bool:
        """While there is no model: look for one (fetched, activated or pushed) and load it."""
        self._active_token = token
        try:
            stored = self._initial_model()
            detector = self._load(stored)
        except ModelError as exc:
            if str(exc) != self.problem:
                self._no_model(exc)
            return False
        finally:
            self.loading = False
        self._sized = self._load_sizes(stored, detector)
        self.detector, self.problem = detector, ""
        self._show_sizes()
        self.on_change(detector)
        return True

    def wait(self) -> None:
        """Until the current detectors' requests have finished."""
        for detector in self.sizes.values():
            detector.wait()
