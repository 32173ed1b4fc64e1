"""The model in use and its hot swap.

The active model is polled in the store; a new activation is validated and swapped in without a restart.
If validation fails, the running model stays and the failure is logged and counted. Without a usable
model (an empty store, a corrupt file) the slot stays empty, says why, and keeps looking.
"""

from __future__ import annotations

from collections.abc import Callable

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

    @property
    def ref(self) -> str:
        return self.detector.ref if self.detector is not None else ""

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

    def _load(self, stored: StoredModel) -> Detector:
        d = self.settings
        try:
            model = self.store.load(stored)
            detector = Detector(stored, model, device=d.device, performance_hint=d.performance_hint,
                                num_requests=d.infer_requests, filters=d.for_cameras(), on_result=self.on_result)
        except GuardianError:
            self.metrics.reloads.labels("refused").inc()
            raise
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.model_loaded.set(1)
        self.metrics.model.info({"name": stored.manifest.name, "version": stored.manifest.version,
                                 "family": stored.manifest.family, "device": d.device})
        log.info("model_loaded", model=stored.manifest.ref, device=d.device, requests=detector.capacity)
        return detector

    def check(self) -> bool:
        """Load the first model, or swap in a newly activated one; True when the detector changed. A
        model that fails validation is refused and the running one is kept."""
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
        old, self.detector = self.detector, new
        self.on_change(new)
        old.wait()
        log.info("model_swapped", old=old.ref, new=new.ref)
        return True

    def _first_model(self, token: str | None) -> bool:
        """While there is no model: look for one (fetched, activated or pushed) and load it."""
        self._active_token = token
        try:
            detector = self._load(self._initial_model())
        except ModelError as exc:
            if str(exc) != self.problem:
                self._no_model(exc)
            return False
        finally:
            self.loading = False
        self.detector, self.problem = detector, ""
        self.on_change(detector)
        return True

    def wait(self) -> None:
        """Until the current detector's requests have finished."""
        if self.detector is not None:
            self.detector.wait()
