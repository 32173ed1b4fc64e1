"""Label sets shipped with the built-in models."""

from __future__ import annotations

from pathlib import Path

COCO80 = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic_light", "fire_hydrant", "stop_sign", "parking_meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports_ball", "kite", "baseball_bat", "baseball_glove", "skateboard", "surfboard", "tennis_racket", "bottle", "wine_glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot_dog", "pizza", "donut", "cake", "chair", "couch", "potted_plant", "bed", "dining_table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell_phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy_bear", "hair_drier", "toothbrush"]
assert len(COCO80) == 80

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
