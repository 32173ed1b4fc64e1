"""A camera's own detection rules (the ``detection`` of its desired config, issue #17), applied to the
detector's output before tracking.

The detector (one per network input size in use) is shared by the cameras and filters with the edge's ``[detection]`` settings (labels and
selectable labels, thresholds, minimum area) inside the model; a camera's rules narrow that further, never
widen it: its labels (empty: the edge's default ``labels``, so a selectable one such as "dog" reaches only
the cameras that ask for it), a minimum score per label (the others keep the edge's), a minimum box area
as a fraction of the frame (0: the edge's), tiling (:mod:`~agents.edge.detection.tiling`: the pipeline
submits the whole frame and its tiles, the detector merges them), the network's input size (the pipeline
submits to the model compiled at that size, :meth:`ModelSlot.detector_for`), and masks — a detection whose box's bottom-centre (where a
person stands) lies inside a mask is dropped. Zones are not filters: :meth:`CameraRules.zones_at` names the zones
a box stands in, and the event records them; :meth:`CameraRules.severity` makes an event an alert when an object
of one of the camera's alert labels (none given: a person or a vehicle) stood in one of its alert zones (issue
#20), a detection otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.json_format import Parse, ParseError

from agents.edge.detection.tiling import DEFAULT_OVERLAP, TileGrid
from agents.edge.models.labels import kind
from agents.edge.tracking.types import Box, Detection
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.errors import GuardianError

Point = tuple[float, float]
_EPSILON = 1e-6  # coordinates are float32 in the config: "on the outline" within this


class CameraRulesError(GuardianError):
    """A camera's stored detection settings cannot be read (the apply checked them: a damaged row)."""

    def __init__(self, camera: str, reason: str) -> None:
        self.camera = camera
        self.reason = reason
        super().__init__(f"camera {camera}: detection settings unreadable: {reason}")


@dataclass(frozen=True)
class Area:
    """A named polygon in normalised picture coordinates (0..1, origin top left)."""

    name: str
    points: tuple[Point, ...]

    def contains(self, x: float, y: float) -> bool:
        """Ray casting: a horizontal ray from (x, y) crosses the outline an odd number of times inside.
        A point on the outline is inside (a box at the picture's edge stands on a mask drawn to the edge)."""
        inside = False
        points = self.points
        x1, y1 = points[-1]
        for x2, y2 in points:
            if _on_segment(x, y, x1, y1, x2, y2):
                return True
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
            x1, y1 = x2, y2
        return inside


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    return (abs(cross) <= _EPSILON and min(x1, x2) - _EPSILON <= x <= max(x1, x2) + _EPSILON
            and min(y1, y2) - _EPSILON <= y <= max(y1, y2) + _EPSILON)


def standing_point(box: Box) -> Point:
    """The bottom-centre of a box: where a person (or a car's wheels) touches the ground."""
    return (box[0] + box[2]) / 2, box[3]


@dataclass(frozen=True)
class CameraRules:
    labels: frozenset[str] = frozenset()  # empty: whatever the detector lets through (the edge's labels)
    thresholds: tuple[tuple[str, float], ...] = ()  # (label, min score); other labels: the edge's
    min_area: float = 0.0  # 0: the edge's
    zones: tuple[Area, ...] = ()
    masks: tuple[Area, ...] = ()
    tiles: TileGrid | None = None  # None: the whole frame only
    input_size: int = 0  # the network input side this camera's frames (and tiles) are inferred at; 0: the edge's
    alert_zones: frozenset[str] = frozenset()  # names of zones where an object of the alert labels is an alert
    # What alerts there, by kind (a vehicle label stands for every vehicle: the tracker follows them as one
    # object, and a parked van's label flips between car, truck and bus).
    alert_kinds: frozenset[str] = frozenset({"person", "vehicle"})

    @classmethod
    def from_json(cls, camera: str, detection_json: str) -> CameraRules:
        """From the ``cameras.detection_json`` column (DetectionConfig in proto3 JSON; "" for none)."""
        if not detection_json:
            return cls()
        try:
            config = Parse(detection_json, config_pb2.DetectionConfig())
        except ParseError as exc:
            raise CameraRulesError(camera, str(exc)[:200]) from None
        return cls(
            labels=frozenset(config.labels),
            thresholds=tuple((t.label, t.min_score) for t in config.thresholds),
            min_area=config.min_area,
            zones=tuple(zone for zone in _areas(config.zones) if zone.name),  # a zone is recorded by its name
            masks=_areas(config.masks),
            tiles=_tiles(camera, config),
            input_size=config.input_size,
            alert_zones=frozenset(config.alert_zones),
            alert_kinds=frozenset(kind(label) for label in config.alert_labels) or cls.alert_kinds,
        )

    def apply(self, detections: Sequence[Detection], default_labels: frozenset[str] | None = None,
              default_threshold: Callable[[str], float] | None = None) -> list[Detection]:
        """The detections this camera keeps; without labels of its own, those of ``default_labels`` (the
        edge's; None: every label the detector reports); a label without a threshold of its own keeps
        ``default_threshold``'s (the edge's: the service's detector lets scores through down to the
        cameras' floor, so a camera's threshold may be below the edge's; None: no default here)."""
        labels = self.labels or default_labels
        if not (labels or self.thresholds or self.min_area or self.masks or default_threshold):
            return list(detections)
        scores = dict(self.thresholds)
        fallback = default_threshold or (lambda label: 0.0)
        return [
            d for d in detections
            if (not labels or d.label in labels)
            and d.score >= (scores[d.label] if d.label in scores else fallback(d.label))
            and d.area >= self.min_area
            and not any(mask.contains(*standing_point(d.box)) for mask in self.masks)
        ]

    def zones_at(self, box: Box) -> list[str]:
        """The names of the zones the box stands in (its bottom-centre is inside)."""
        if not self.zones:
            return []
        x, y = standing_point(box)
        return [zone.name for zone in self.zones if zone.contains(x, y)]


    def severity(self, label: str, zones: Iterable[str]) -> str:
        """"alert" when an object of the alert labels stood in one of the alert zones, else "detection"."""
        return "alert" if kind(label) in self.alert_kinds and not self.alert_zones.isdisjoint(zones) else "detection"


def _tiles(camera: str, config: config_pb2.DetectionConfig) -> TileGrid | None:
    if not config.HasField("tiles"):
        return None
    t = config.tiles
    try:
        grid = TileGrid(t.columns, t.rows, t.overlap or DEFAULT_OVERLAP)
    except ValueError as exc:
        raise CameraRulesError(camera, str(exc)) from None
    return grid if grid.tiled else None


def _areas(polygons: Iterable[config_pb2.Polygon]) -> tuple[Area, ...]:
    return tuple(Area(p.name, tuple((pt.x, pt.y) for pt in p.points)) for p in polygons)
