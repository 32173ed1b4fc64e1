"""The demo camera's detection settings, as its owner would set them."""

from __future__ import annotations

import json
from pathlib import Path

from agents.edge.detection.camera_rules import CameraRules
from agents.edge.tracking.types import Detection
from demo.stack import SIGN_POST_MASK

VTEST_CAMERA = Path(__file__).parents[2] / "bench" / "detection_sets" / "vtest" / "camera.json"


def test_the_demo_masks_the_sign_post_the_harness_measured():
    """The mask the demo gives its camera is the one bench/detection_eval.py and detection_events.py measured."""
    assert json.loads(VTEST_CAMERA.read_text())["masks"] == [SIGN_POST_MASK]


def test_the_mask_drops_the_post_and_keeps_a_walker_beside_it():
    rules = CameraRules.from_json("campus", json.dumps({"masks": [SIGN_POST_MASK]}))
    w, h = 768, 576
    post = Detection("person", 0.6, (30 / w, 110 / h, 48 / w, 141 / h))  # where YOLOX boxes the post in vtest
    walker = Detection("person", 0.9, (60 / w, 100 / h, 90 / w, 180 / h))  # a person walking past it, nearer
    assert rules.apply([post, walker]) == [walker]
