"""Tiling: a frame detected as the whole plus overlapping tiles, the results merged into one list.

At 416 px a 1280-wide street scene shrinks 3×: a distant person 40 px tall becomes 13 px, under what
NanoDet finds. Cut into a grid of overlapping tiles, each tile goes through the network at nearly its own
resolution; the full frame still goes through too (an object larger than a tile is found whole there).
Boxes come back normalised to their window and are mapped to the frame; then one merge:

- a box that touches a tile's inner edge (one the tile shares with a neighbour, not the frame's edge) is
  a cut object: the whole boxes go first, then the cut ones, each best score first;
- class-aware NMS (vehicle labels as one class, as the detector's own NMS), and a cut box is dropped
  when most of it (``CUT_INSIDE``) lies inside a kept box of its class — the neighbouring tile or the
  full frame saw the whole object (IoU alone keeps a small piece beside the whole);
- the minimum area again, as a fraction of the frame (a tile's model filter measured it on the tile).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from agents.edge.tracking.types import Box, Detection

CUT_INSIDE = 0.5  # share of a cut box inside a kept box that makes it a piece of that object
EDGE_MARGIN = 0.01  # a box side this close (fraction of its window) to an inner edge touches it
MAX_TILES = 4  # per side: 4×4 tiles + the full frame is already 17 inferences a frame
DEFAULT_OVERLAP = 0.2  # a person ~0.2 of a tile wide near the seam is whole in one of the two tiles


@dataclass(frozen=True)
class TileGrid:
    """``columns`` × ``rows`` tiles sharing ``overlap`` of their side with each neighbour, plus the full frame."""

    columns: int
    rows: int
    overlap: float = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if not (1 <= self.columns <= MAX_TILES and 1 <= self.rows <= MAX_TILES):
            raise ValueError(f"tiles: columns and rows must be 1..{MAX_TILES}; got {self.columns}×{self.rows}")
        if not 0 <= self.overlap < 0.5:
            raise ValueError(f"tiles: overlap must be in [0, 0.5); got {self.overlap}")

    @property
    def tiled(self) -> bool:
        return self.columns * self.rows > 1

    def windows(self, frame_hw: tuple[int, int]) -> list[Window]:
        """The full frame first, then the tiles row by row (a 1×1 grid: the full frame alone)."""
        h, w = frame_hw
        full = Window(0, 0, w, h, frame_hw)
        if not self.tiled:
            return [full]
        xs, ys = _spans(w, self.columns, self.overlap), _spans(h, self.rows, self.overlap)
        return [full] + [Window(x0, y0, x1, y1, frame_hw) for y0, y1 in ys for x0, x1 in xs]


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    """``count`` spans of one size covering 0..length, neighbours sharing ``overlap`` of the size."""
    size = length / (count - (count - 1) * overlap)
    step = size * (1 - overlap)
    spans = []
    for i in range(count):
        start = round(i * step)
        spans.append((start, length if i == count - 1 else min(length, round(i * step + size))))
    return spans


@dataclass(frozen=True)
class Window:
    """A part of the frame in pixels (``x1``, ``y1`` exclusive) and the frame's size."""

    x0: int
    y0: int
    x1: int
    y1: int
    frame_hw: tuple[int, int]

    @property
    def hw(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def to_frame(self, box: Box) -> Box:
        """A box normalised to this window → normalised to the frame."""
        (fh, fw), (h, w) = self.frame_hw, self.hw
        return ((self.x0 + box[0] * w) / fw, (self.y0 + box[1] * h) / fh,
                (self.x0 + box[2] * w) / fw, (self.y0 + box[3] * h) / fh)

    def cuts(self, box: Box) -> bool:
        """Whether a box (normalised to this window) touches one of the window's inner edges."""
        fh, fw = self.frame_hw
        return ((self.x0 > 0 and box[0] <= EDGE_MARGIN) or (self.y0 > 0 and box[1] <= EDGE_MARGIN)
                or (self.x1 < fw and box[2] >= 1 - EDGE_MARGIN) or (self.y1 < fh and box[3] >= 1 - EDGE_MARGIN))


def _intersection(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def merge(pieces: Sequence[tuple[Window, Sequence[Detection]]], nms_iou: float,
          merged_labels: Collection[str] = frozenset(), min_area: float = 0.0) -> list[Detection]:
    """Each window's detections (boxes normalised to the window) → one list in frame coordinates, best first."""
    candidates: list[tuple[Detection, bool]] = []  # (in frame coordinates, cut by a tile edge)
    for window, detections in pieces:
        for d in detections:
            candidates.append((Detection(d.label, d.score, window.to_frame(d.box)), window.cuts(d.box)))
    # Whole boxes before cut pieces (then best score first): a piece never suppresses the object it is part of.
    candidates.sort(key=lambda c: (c[1], -c[0].score))

    def group(label: str) -> str:
        return "\0vehicle" if label in merged_labels else label

    kept: list[Detection] = []
    for det, cut in candidates:
        if det.area < min_area or det.area <= 0:
            continue
        same = [k for k in kept if group(k.label) == group(det.label)]
        overlaps = [(_intersection(det.box, k.box), k) for k in same]
        if any(i / (det.area + k.area - i) > nms_iou for i, k in overlaps):
            continue
        if cut and any(i >= CUT_INSIDE * det.area for i, _ in overlaps):
            continue
        kept.append(det)
    kept.sort(key=lambda d: -d.score)
    return kept
