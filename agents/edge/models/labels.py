"""Label sets shipped with the built-in models."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

COCO80 = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic_light", "fire_hydrant", "stop_sign", "parking_meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports_ball", "kite", "baseball_bat", "baseball_glove", "skateboard", "surfboard", "tennis_racket", "bottle", "wine_glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot_dog", "pizza", "donut", "cake", "chair", "couch", "potted_plant", "bed", "dining_table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell_phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy_bear", "hair_drier", "toothbrush"]
assert len(COCO80) == 80

# One kind of object for tracking and box merging: a detector at 416 px flips a parked van between car,
# truck and bus from frame to frame, and sometimes boxes it as a car and a truck at once.
VEHICLES = frozenset({"car", "truck", "bus", "train", "motorcycle"})


def kind(label: str) -> str:
    """What the tracker follows: "vehicle" for every vehicle label, otherwise the label itself."""
    return "vehicle" if label in VEHICLES else label


def merge_groups(labels: Sequence[str], merged: Collection[str]) -> list[int]:
    """Per class index, the class its boxes are suppressed with in NMS: every label in ``merged`` shares
    the first such label's index (one class for NMS), the others keep their own."""
    first = next((i for i, name in enumerate(labels) if name in merged), None)
    return [first if first is not None and name in merged else i for i, name in enumerate(labels)]


# TF Object Detection API models count from 1; index 0 is the background class.
PERSON_ONLY_TFOD = ("background", "person")


def read_labels(path: Path) -> list[str]:
    """One label per line; blank lines and ``#`` comments are skipped; spaces become underscores."""
    labels = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            labels.append(line.replace(" ", "_"))
    return labels
