"""The ``[detection]`` and ``[models]`` sections of the edge config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from agents.edge.detection.device import DEVICE_PATTERN
from agents.edge.events.config import EventsSection
from agents.edge.models.labels import VEHICLES
from agents.edge.tracking.config import TrackingSection
from agents.edge.video.decode_path import DecodeSetting
from guardian.runtime.config import Section

if TYPE_CHECKING:  # the settings tree stays light: no numpy for an annotation
    from agents.edge.models.families import Family


class ModelsSettings(Section):
    store_dir: Path | None = Field(None, description="Model store; default <storage.data_dir>/models.")
    cache_dir: Path | None = Field(
        None, description="Where fetched packages are kept; default $GUARDIAN_CACHE or ~/.cache/guardian."
    )
    reload_interval_s: float = Field(5.0, gt=0, description="How often the detector checks for a newly activated model.")


class MotionSection(Section):
    width: int = Field(160, ge=32, le=640, description="Width of the downscaled grey image motion is measured on.")
    pixel_threshold: float = Field(18.0, gt=0, description="Grey-level change (0..255) that counts as changed.")
    min_cells: int = Field(2, ge=1, description="Moving grid cells (8×8 on the small image) that make a frame 'moving'.")
    noise_factor: float = Field(
        3.0, ge=0,
        description="A pixel counts as changed only when its change is also this many times its usual change, "
        "learned over the last ~10 s: swaying leaves and flicker stop counting as motion, a person walking "
        "in front of them still does. 0: no learning, the fixed pixel_threshold alone.",
    )
    static_interval_s: float = Field(30.0, gt=0, description="Infer at least this often on a static scene.")
    tracking_analysis_every: int = Field(
        5, ge=1, le=50,
        description="While objects are tracked (every frame is inferred anyway), measure motion on one frame in this many.",
    )


class DetectionSettings(Section):
    enabled: bool = Field(True, description="Run the detector service.")
    model: str = Field("yolox-nano", description="Model name in the store used when none is activated.")
    device: str = Field(
        "auto",
        description="OpenVINO device for inference. auto: the GPU when OpenVINO lists one, else the CPU; or CPU, "
        "GPU (GPU.1), NPU, or OpenVINO's own AUTO / AUTO:GPU,CPU (upper case). A device that is not there or "
        "cannot compile the model falls back to the CPU with a warning (`guardian-edge hardware` shows the choice).",
    )
    decode: DecodeSetting = Field(
        "auto",
        description="How the detection stream is decoded. auto: Intel Quick Sync (qsv) or VAAPI when the box has a "
        "render node (/dev/dri/renderD*) and PyAV's FFmpeg can drive it, else software; software, qsv or vaapi to "
        "choose. A hardware decoder that fails falls back to software for that camera, with a warning.",
    )
    performance_hint: str = Field("THROUGHPUT", pattern="^(LATENCY|THROUGHPUT)$", description="OpenVINO performance hint.")
    infer_requests: int = Field(0, ge=0, le=16, description="Parallel infer requests; 0 lets OpenVINO choose.")
    fps: float = Field(5.0, gt=0, le=30, description="Frames per second analysed per camera (the rest are skipped).")
    labels: list[str] = Field(
        # "train" too: NanoDet scores some buses as trains, and a dropped label is a missed vehicle.
        default_factory=lambda: ["person", "car", "truck", "bus", "train", "motorcycle", "bicycle"],
        description="Labels that become events on a camera without a label selection of its own; empty means "
        "every label the model knows.",
    )
    selectable_labels: list[str] = Field(
        # The rest of what the cloud lets a camera owner pick (cloud/api/schemas.py DetectionLabel).
        default_factory=lambda: ["dog", "cat", "bird", "horse", "sheep", "cow", "bear", "boat", "backpack",
                                 "handbag", "suitcase", "umbrella"],
        description="Labels the detector reports too, for the cameras whose own selection asks for them; "
        "a camera without a selection keeps to `labels`.",
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="Default minimum score.")
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {"car": 0.35, "truck": 0.35, "bus": 0.35, "train": 0.35},
        description="Per-label minimum scores (override the default).",
    )
    # Unset, the input geometry is the model family's (models/families: YOLOX letterboxed at 640, NanoDet
    # stretched at its 416), chosen from bench/detection_eval.py's labelled scenes like its thresholds.
    input_fit: Literal["letterbox", "stretch"] | None = Field(
        None,
        description="How a frame is fitted into the network's square input: letterbox keeps the aspect ratio "
        "(padding the rest), stretch squashes it; unset: the model family's own (YOLOX letterbox, the others "
        "stretch; bench/detection_eval.py compares them).",
    )
    input_size: int = Field(
        0, ge=0, le=1024, multiple_of=32,
        description="Side of the network's square input in pixels (a multiple of 32) for the cameras without "
        "their own (a camera's detection input_size, from the cloud, gets a model compiled at its size); 0: the "
        "model family's own (YOLOX 640), else the model's (NanoDet 416). Larger finds smaller objects at a "
        "higher cost per frame (bench/detection_eval.py, bench/edge_capacity.py).",
    )
    merge_vehicles: bool = Field(
        True,
        description="Merge overlapping boxes of different vehicle labels (car, truck, bus, train, motorcycle) "
        "in NMS, keeping the best; off: each label suppresses only its own boxes.",
    )
    camera_threshold_floor: float = Field(
        0.3, gt=0, lt=1,
        description="The lowest per-label threshold a camera's own detection settings take effect at (chosen from "
        "`guardian-edge models eval` curves): the detector keeps scores down to it, then each camera applies its "
        "own threshold, or `thresholds`/`threshold`.",
    )
    min_area: float = Field(0.0005, ge=0, lt=1, description="Minimum box area as a fraction of the frame.")
    nms_iou: float = Field(0.5, gt=0, lt=1, description="IoU above which overlapping boxes of one label are merged.")
    motion: MotionSection = Field(default_factory=MotionSection, description="Motion gating.")
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="Object tracking.")
    events: EventsSection = Field(default_factory=EventsSection, description="Event clips.")

    @property
    def wanted_labels(self) -> set[str] | None:
        """The labels the detector reports (the default ones and the selectable ones); None: every label
        the model knows."""
        return set(self.labels) | set(self.selectable_labels) if self.labels else None

    @property
    def default_labels(self) -> frozenset[str] | None:
        """The labels a camera without its own selection keeps; None: every label."""
        return frozenset(self.labels) or None

    @property
    def merged_labels(self) -> frozenset[str]:
        """The labels NMS treats as one class."""
        return VEHICLES if self.merge_vehicles else frozenset()

    @property
    def min_score(self) -> float:
        return min([self.threshold, *self.thresholds.values()])

    def threshold_of(self, label: str, family: Family | None = None) -> float:
        """The edge's threshold for ``label``: ``thresholds``/``threshold`` as configured; where this config
        leaves them unset, the active model ``family``'s own defaults (each model scores on its own scale:
        CenterNet's people at 0.4 match NanoDet's at 0.5, bench/detection_eval.py), else the defaults above."""
        configured = self.model_fields_set
        if family is not None and "thresholds" not in configured and label in family.default_thresholds:
            return family.default_thresholds[label]
        if label in self.thresholds:
            return self.thresholds[label]
        if family is not None and "threshold" not in configured and family.default_threshold is not None:
            return family.default_threshold
        return self.threshold

    def input_geometry(self, family: Family) -> tuple[str, int]:
        """(input fit, input side; 0: the stored model's own): as configured, else the model ``family``'s."""
        return self.input_fit or family.default_input_fit, self.input_size or family.default_input_size

    def for_cameras(self) -> DetectionSettings:
        """The detector's filters in the service: scores down to the cameras' floor for every label (each
        camera's rules then apply its own thresholds or the edge's)."""
        floor = min(self.min_score, self.camera_threshold_floor)
        return self.model_copy(update={"threshold": floor, "thresholds": {}})

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(DEVICE_PATTERN, value):
            raise ValueError(f"{value!r} is not auto, CPU, GPU, GPU.<n>, NPU or OpenVINO's AUTO/MULTI/HETERO[:devices] "
                             "(device names in upper case, Guardian's auto in lower case)")
        return value

    @field_validator("thresholds")
    @classmethod
    def _scores(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not 0 < v < 1]
        if bad:
            raise ValueError(f"thresholds must be between 0 and 1: {', '.join(bad)}")
        return value
