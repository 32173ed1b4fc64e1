"""Draft boxes for a scene's review (how the labels were started; README.md says how they were finished).

    .venv/bin/python bench/detection_sets/draft_labels.py SCENE OUT_DIR

Reads the scene's ``ground_truth.json`` for its images (and keeps boxes already there), runs NanoDet in
a high-recall setting the shipped detector does not use — the letterboxed full frame plus a 3×2 grid of
overlapping tiles, each letterboxed on its own (so people are seen 1.5–2× larger), every score ≥ 0.25,
merged by class-aware NMS — and writes ``OUT_DIR/draft.json`` (the candidates, numbered) and one PNG per
frame with the numbered candidates drawn, for a person to accept, reject, relabel or add to, frame by frame.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models.fetch import fetch
from agents.edge.models.store import ModelStore

# The harness's scene loader and class list (bench/ is a folder of scripts, not a package).
_spec = importlib.util.spec_from_file_location("detection_eval", Path(__file__).resolve().parent.parent / "detection_eval.py")
assert _spec is not None and _spec.loader is not None
detection_eval = sys.modules["detection_eval"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(detection_eval)
CACHE, CLASSES, load_scene = detection_eval.CACHE, detection_eval.CLASSES, detection_eval.load_scene

COLOURS = {"person": "red", "bicycle": "orange", "car": "cyan", "motorcycle": "magenta", "bus": "yellow",
           "train": "white", "truck": "lime"}


def tiles(w: int, h: int, cols: int = 3, rows: int = 2, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    tw, th = int(w / (cols - (cols - 1) * overlap)), int(h / (rows - (rows - 1) * overlap))
    xs = np.linspace(0, w - tw, cols).astype(int)
    ys = np.linspace(0, h - th, rows).astype(int)
    return [(int(x), int(y), int(x) + tw, int(y) + th) for y in ys for x in xs]


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def nms(rows: list[tuple[str, float, list[float]]], limit: float = 0.5) -> list[tuple[str, float, list[float]]]:
    kept: list[tuple[str, float, list[float]]] = []
    for label, score, b in sorted(rows, key=lambda r: -r[1]):
        if all(lab != label or iou(b, k) < limit for lab, _, k in kept):
            kept.append((label, score, b))
    return kept


def main() -> None:
    scene, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    truth, frames = load_scene(scene)
    store = ModelStore(Path(tempfile.mkdtemp()) / "models")
    stored = fetch(store, "nanodet", CACHE)
    detector = Detector(stored, store.load(stored), num_requests=1, inference_precision="f32",
                        filters=DetectionSettings(labels=list(CLASSES), threshold=0.25, thresholds={}))
    draft = []
    for im in truth["images"]:
        frame = frames[im["id"]]
        h, w = frame.shape[:2]
        rows = []
        for x0, y0, x1, y1 in [(0, 0, w, h), *tiles(w, h)]:
            crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
            for d in detector.detect(crop):
                bx = [x0 + d.box[0] * (x1 - x0), y0 + d.box[1] * (y1 - y0), x0 + d.box[2] * (x1 - x0),
                      y0 + d.box[3] * (y1 - y0)]
                rows.append((d.label, d.score, bx))
        zoom = max(1, round(1000 / w))  # small frames drawn larger, so the numbers stay readable
        image = Image.fromarray(frame[:, :, ::-1].copy()).resize((w * zoom, h * zoom))
        pen = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=13)
        for n, (label, score, b) in enumerate(nms(rows)):
            draft.append({"image_id": im["id"], "n": n, "label": label, "score": round(score, 2),
                          "bbox": [round(b[0], 1), round(b[1], 1), round(b[2] - b[0], 1), round(b[3] - b[1], 1)]})
            pen.rectangle([v * zoom for v in b], outline=COLOURS[label])
            pen.text((b[0] * zoom + 2, b[1] * zoom + 1), f"{n}:{score:.2f}", fill=COLOURS[label], font=font)
        image.save(out / f"{im['id']:03d}.png")
    (out / "draft.json").write_text(json.dumps(draft, indent=0))
    print(f"{len(draft)} candidates on {len(truth['images'])} frames → {out}")


if __name__ == "__main__":
    main()
