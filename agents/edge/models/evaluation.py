"""How well a detector does on a labelled set: COCO-style ground truth in, precision/recall and AP out.

A labelled set is one ``ground_truth.json`` (COCO: images, annotations with ``bbox`` = ``[x, y, w, h]`` in
frame pixels and ``iscrowd``, categories with COCO's names) naming its frames by file: a video's frame by
its ``frame_index`` (decode order, from 0), a still by its file. ``iscrowd`` marks what is ignored: a
detection on it is neither a hit nor a false alarm, and it is never a miss. Each variant (a model or a
setting) is run once over the frames with every score down to a low floor; its operating points are
then score cuts of those detections:

- *AP50*: pycocotools' COCOeval at IoU 0.5, per class and per COCO size (small < 32², medium < 96²,
  large; areas in frame pixels).
- *P/R @ship*: precision and recall at the edge's thresholds; greedy matching at IoU 0.5 (pycocotools'
  IoU), best score first, one detection per ground-truth box.
- *R@1FA*: the highest recall whose false alarms stay ≤ 1 per 100 frames, and the threshold giving it
  (the curve per-label thresholds are chosen from).
- ``person≥40``: people at least 40 px tall; ``vehicle``: car, truck, bus and train pooled and matched
  whatever their label (the label flips between them; one track per vehicle).

Used by ``guardian-edge models eval`` (the installed model on the box) and ``bench/detection_eval.py``
(the labelled scenes in the repository, variants side by side).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from agents.edge.models.errors import ModelError

IOU = 0.5
PERSON_MIN_HEIGHT = 40
# Pooled as one class (matched whatever their label); motorcycles stay a class of their own here, so the
# figures stay comparable with the sets' earlier runs.
VEHICLE_POOL = frozenset({"car", "truck", "bus", "train"})


class Found(Protocol):
    """A detection as the detector reports it: a label, a score and a box normalised to the frame."""

    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def box(self) -> tuple[float, float, float, float]: ...


Detect = Callable[[np.ndarray], Sequence[Found]]  # a BGR frame → its detections
Results = dict[int, Sequence[Found]]  # image id → detections


class EvaluationError(ModelError):
    """A labelled set cannot be read: ``path`` names the file, ``reason`` says why in one line."""

    exit_code = os.EX_NOINPUT

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"labelled set unreadable: {path}: {reason}")


@dataclass
class LabelledSet:
    name: str
    truth: dict[str, Any]
    frames: dict[int, np.ndarray]  # image id → BGR frame

    @property
    def label_names(self) -> list[str]:
        return [c["name"] for c in self.truth["categories"]]


def find_media(file_name: str, media: Sequence[Path]) -> Path:
    """The first of ``media`` (directories) that holds ``file_name``."""
    for root in media:
        if (root / file_name).is_file():
            return root / file_name
    raise EvaluationError(file_name, f"not found in {', '.join(str(m) for m in media)}")


def load_frames(images: list[dict[str, Any]], media: Sequence[Path], where: str = "") -> dict[int, np.ndarray]:
    """image id → BGR frame: a video's frames by decode index (``frame_index``), or a still image file."""
    frames: dict[int, np.ndarray] = {}
    by_video: dict[str, dict[int, int]] = {}
    for im in images:
        if "frame_index" in im:
            by_video.setdefault(im["file_name"], {})[int(im["frame_index"])] = int(im["id"])
        else:
            rgb = np.asarray(Image.open(find_media(im["file_name"], media)).convert("RGB"))
            frames[int(im["id"])] = np.ascontiguousarray(rgb[:, :, ::-1])
    for name, wanted in by_video.items():
        last = max(wanted)
        with av.open(str(find_media(name, media))) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    frames[wanted[index]] = frame.to_ndarray(format="bgr24")
                if index >= last:
                    break
    missing = [im["id"] for im in images if im["id"] not in frames]
    if missing:
        raise EvaluationError(where, f"frames missing from the footage: image ids {missing[:5]}")
    return frames


def load_set(ground_truth: Path, media: Sequence[Path] = ()) -> LabelledSet:
    """A set from its ``ground_truth.json``; footage looked up in ``media``, then beside the file."""
    try:
        truth = json.loads(ground_truth.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(str(ground_truth), str(exc)) from None
    frames = load_frames(truth["images"], [*media, ground_truth.parent], str(ground_truth))
    return LabelledSet(ground_truth.parent.name, truth, frames)


def detect_all(detect: Detect, frames: Mapping[int, np.ndarray]) -> Results:
    return {image_id: detect(frame) for image_id, frame in frames.items()}


def to_pixels(det: Found, width: int, height: int) -> list[float]:
    """Normalised corners → COCO ``[x, y, w, h]`` in pixels."""
    x0, y0, x1, y1 = det.box
    return [x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height]


# -- metrics -----------------------------------------------------------------------------------------
@dataclass
class Scored:
    """Detections of one class (or pooled group) over a set, matched against its ground truth."""

    scores: np.ndarray  # per detection, best first
    true: np.ndarray  # per detection: matched a counted ground-truth box
    ignored: np.ndarray  # per detection: matched ignored ground truth only (neither TP nor FP)
    positives: int  # counted ground-truth boxes
    frames: int

    def at(self, threshold: float) -> tuple[int, int]:
        """(true positives, false alarms) with scores ≥ threshold."""
        keep = self.scores >= threshold
        return int((self.true & keep).sum()), int((~self.true & ~self.ignored & keep).sum())

    def recall_at_false_alarm_rate(self, per_100_frames: float = 1.0) -> tuple[float, float | None]:
        """(best recall, its threshold) with false alarms ≤ ``per_100_frames`` per 100 frames."""
        allowed = per_100_frames * self.frames / 100.0
        tp = np.cumsum(self.true)
        fp = np.cumsum(~self.true & ~self.ignored)
        best, threshold = 0.0, None
        for i in range(len(self.scores)):
            last_of_score = i + 1 == len(self.scores) or self.scores[i + 1] < self.scores[i]
            if last_of_score and fp[i] <= allowed and self.positives:
                best, threshold = float(tp[i]) / self.positives, float(self.scores[i])
        return best, threshold


def match(truth: dict[str, Any], results: Results, names: Iterable[str],
          counted: Callable[[dict[str, Any]], bool] = lambda a: True) -> Scored:
    """Greedy matching at IoU 0.5 of detections labelled ``names`` against ground truth of ``names``
    (class-agnostic within the group); ground truth that is ``iscrowd`` or not ``counted`` is ignored."""
    names = set(names)
    cat_names = {c["id"]: c["name"] for c in truth["categories"]}
    sizes = {im["id"]: (im["width"], im["height"]) for im in truth["images"]}
    gts: dict[int, list[dict[str, Any]]] = {}
    for a in truth["annotations"]:
        if cat_names[a["category_id"]] in names:
            gts.setdefault(a["image_id"], []).append(a)
    scores: list[float] = []
    true: list[bool] = []
    ignored: list[bool] = []
    positives = 0
    for image_id, dets in results.items():
        w, h = sizes[image_id]
        mine = sorted((d for d in dets if d.label in names), key=lambda d: -d.score)
        gt = gts.get(image_id, [])
        ignore = [bool(a.get("iscrowd")) or not counted(a) for a in gt]
        positives += ignore.count(False)
        taken = [False] * len(gt)
        # Ignored ground truth as COCO crowds: overlap measured over the detection's own area.
        ious = (coco_mask.iou([to_pixels(d, w, h) for d in mine], [a["bbox"] for a in gt], [int(x) for x in ignore])
                if mine and gt else np.zeros((len(mine), len(gt))))
        for i, d in enumerate(mine):
            scores.append(d.score)
            # The best free counted box; failing that, ignored ground truth absorbs it (any number).
            free = [j for j in range(len(gt)) if not ignore[j] and not taken[j] and ious[i][j] >= IOU]
            if free:
                taken[max(free, key=lambda j: ious[i][j])] = True
                true.append(True)
                ignored.append(False)
            else:
                true.append(False)
                ignored.append(any(ignore[j] and ious[i][j] >= IOU for j in range(len(gt))))
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    return Scored(np.asarray(scores)[order], np.asarray(true, bool)[order], np.asarray(ignored, bool)[order],
                  positives, len(results))


def coco_ap50(truth: dict[str, Any], results: Results) -> dict[tuple[str, str], float]:
    """(class, size) → AP at IoU 0.5 from pycocotools' COCOeval; size ∈ all/small/medium/large."""
    cat_ids = {c["name"]: c["id"] for c in truth["categories"]}
    sizes = {im["id"]: (im["width"], im["height"]) for im in truth["images"]}
    rows = [{"image_id": i, "category_id": cat_ids[d.label], "bbox": to_pixels(d, *sizes[i]), "score": d.score}
            for i, dets in results.items() for d in dets if d.label in cat_ids]
    gt = COCO()
    gt.dataset = {"images": truth["images"], "annotations": truth["annotations"], "categories": truth["categories"]}
    with redirect_stdout(StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        if not rows:
            return {}
        evaluation = COCOeval(gt, gt.loadRes(rows), "bbox")
        evaluation.params.iouThrs = np.array([IOU])
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"]  # [T, R, K, A, M]
    out: dict[tuple[str, str], float] = {}
    for k, cat in enumerate(evaluation.params.catIds):
        name = next(n for n, i in cat_ids.items() if i == cat)
        for a, area in enumerate(evaluation.params.areaRngLbl):
            p = precision[0, :, k, a, -1]
            out[(name, area)] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    return out


# -- report ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the report: a class (or group) under one variant."""

    group: str
    variant: str
    positives: int
    ap50: tuple[float | None, float | None, float | None, float | None]  # all, small, medium, large
    precision: float | None  # at the edge's thresholds
    recall: float | None
    false_alarms_per_100: float
    recall_at_30: float | None
    recall_at_1fa: float
    threshold_at_1fa: float | None


def groups(truth: dict[str, Any]) -> Iterator[tuple[str, set[str], Callable[[dict[str, Any]], bool]]]:
    """(name, labels, which ground truth counts) for each class present, people ≥ 40 px, vehicles pooled."""
    present = [c["name"] for c in truth["categories"]
               if any(a["category_id"] == c["id"] and not a.get("iscrowd") for a in truth["annotations"])]
    for name in present:
        yield name, {name}, lambda a: True
    if "person" in present:
        yield f"person≥{PERSON_MIN_HEIGHT}", {"person"}, lambda a: a["bbox"][3] >= PERSON_MIN_HEIGHT
    if VEHICLE_POOL & set(present):
        yield "vehicle", set(VEHICLE_POOL), lambda a: True


def evaluate(labelled: LabelledSet, by_variant: Mapping[str, Results], threshold_of: Callable[[str], float]) -> list[Row]:
    """The report's rows: per class or group, per variant; ``threshold_of`` gives a label's edge threshold."""
    truth = labelled.truth
    aps = {v: coco_ap50(truth, r) for v, r in by_variant.items()}
    rows = []
    for name, names, counted in groups(truth):
        for variant, results in by_variant.items():
            scored = match(truth, results, names, counted)
            tp, fa = scored.at(min(threshold_of(n) for n in names))
            best, thr = scored.recall_at_false_alarm_rate(1.0)
            ap = aps[variant]
            rows.append(Row(
                name, variant, scored.positives,
                tuple(ap.get((name, s)) for s in ("all", "small", "medium", "large")),  # type: ignore[arg-type]
                tp / (tp + fa) if tp + fa else None,
                tp / scored.positives if scored.positives else None,
                fa / scored.frames * 100 if scored.frames else 0.0,
                scored.at(0.3)[0] / scored.positives if scored.positives else None,
                best, thr,
            ))
    return rows


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None or x != x:
        return "–"
    return f"{x * 100:.0f}%" if pct else f"{x:.2f}"


def format_report(labelled: LabelledSet, rows: Sequence[Row]) -> str:
    """The rows as a text table, under a line naming the set."""
    annotations = labelled.truth["annotations"]
    lines = [
        f"## {labelled.name}: {len(labelled.truth['images'])} frames, "
        f"{sum(not a.get('iscrowd') for a in annotations)} boxes (+{sum(bool(a.get('iscrowd')) for a in annotations)} ignored)",
        f"{'class':12} {'variant':13} {'GT':>4} {'AP50':>5} {'APs':>5} {'APm':>5} {'APl':>5}  "
        f"{'P@ship':>6} {'R@ship':>6} {'FA/100f':>7}  {'R@.3':>5}  {'R@1FA':>5} {'thr':>5}",
    ]
    for r in rows:
        lines.append(f"{r.group:12} {r.variant:13} {r.positives:4} " + " ".join(f"{_fmt(a):>5}" for a in r.ap50)
                     + f"  {_fmt(r.precision):>6} {_fmt(r.recall):>6} {r.false_alarms_per_100:7.1f}  "
                     f"{_fmt(r.recall_at_30):>5}  {_fmt(r.recall_at_1fa):>5} {_fmt(r.threshold_at_1fa, pct=False):>5}")
    return "\n".join(lines)


# -- thresholds from the curves ----------------------------------------------------------------------
CURVE_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


@dataclass(frozen=True)
class Suggestion:
    """The threshold for one label: the lowest score cut whose precision reaches the target (so the most
    recall at that precision); None when no cut reaches it."""

    label: str
    variant: str
    threshold: float | None
    precision: float | None
    recall: float | None
    curve: tuple[tuple[float, float | None, float | None], ...]  # (threshold, precision, recall)


def precision_recall(scored: Scored, threshold: float) -> tuple[float | None, float | None]:
    tp, fa = scored.at(threshold)
    return (tp / (tp + fa) if tp + fa else None), (tp / scored.positives if scored.positives else None)


def suggest(scored: Scored, target_precision: float, label: str = "", variant: str = "") -> Suggestion:
    """The threshold for ``target_precision`` on ``scored``'s curve, and the curve at :data:`CURVE_THRESHOLDS`."""
    best: tuple[float, float | None, float | None] | None = None
    for threshold in sorted(set(scored.scores.tolist())):  # low to high: the first that reaches the target
        precision, recall = precision_recall(scored, threshold)
        if precision is not None and precision >= target_precision and recall:
            best = (threshold, precision, recall)
            break
    curve = tuple((t, *precision_recall(scored, t)) for t in CURVE_THRESHOLDS)
    threshold, precision, recall = best or (None, None, None)
    return Suggestion(label, variant, threshold, precision, recall, curve)


def suggestions(labelled: LabelledSet, by_variant: Mapping[str, Results], target_precision: float) -> list[Suggestion]:
    """Per label present in the set (people of any height; vehicles by their own label), per variant."""
    out = []
    for name, names, counted in groups(labelled.truth):
        if name.startswith("person≥") or name == "vehicle":
            continue
        for variant, results in by_variant.items():
            out.append(suggest(match(labelled.truth, results, names, counted), target_precision, name, variant))
    return out


def format_suggestions(rows: Sequence[Suggestion], target_precision: float) -> str:
    """The curves (P/R at fixed cuts) and the suggested per-label thresholds as a text table."""
    head = " ".join(f"{t:>9.2f}" for t in CURVE_THRESHOLDS)
    lines = [f"thresholds for precision ≥ {target_precision:.0%} (curve: P/R at each score cut)",
             f"{'class':12} {'variant':13} {'thr':>5} {'P':>5} {'R':>5}  {head}"]
    for s in rows:
        cells = " ".join(f"{_fmt(p):>4}/{_fmt(r):<4}" for _, p, r in s.curve)
        lines.append(f"{s.label:12} {s.variant:13} {_fmt(s.threshold, pct=False):>5} {_fmt(s.precision):>5} "
                     f"{_fmt(s.recall):>5}  {cells}")
    return "\n".join(lines)
