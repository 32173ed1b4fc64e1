"""Events per minute on the campus footage (vtest) through the edge's own chain, per label.

    .venv/bin/python bench/detection_events.py [--fps 5] [--model yolox-nano] [--no-vehicle-merge]
                                               [--camera-rules bench/detection_sets/vtest/camera.json]

The shipped ``[detection]`` settings (labels, thresholds, input fit), the real detector (OpenVINO, the
shipped model: YOLOX-Nano letterboxed at 640 since 2026-12-05, NanoDet before, ``--model``), the camera's
rules if given (``--camera-rules``: masks etc., applied as the detector service does), motion gate, tracker and event manager writing to a scratch SQLite database (no snapshot or
clip files); vtest.mp4 (79.5 s, 768×576) decoded at ``--fps``. Printed: events opened per label, their
rate per minute of footage, and per vehicle event how long it lasted — a parked vehicle should be one
event for the whole clip, not a new one each time its label flips between car, truck and bus.

Figures (NanoDet 416, stretch, 5 fps, every frame inferred: the parked vehicles keep a track alive; the
figures with YOLOX are at the end).
Before vehicles were one kind: 37 events (27.9/min): 28 person, 9 vehicle (6.8/min: truck 2, car 4, bus
3), the two parked vehicles split into events of 1–60 s as the label flipped or a second box (a "car" on
the van's "truck") appeared. Tracked as one kind with the label by vote, boxes unmerged
(``--no-vehicle-merge``): 35 (7 vehicle; the second box still opens its own track). Both (the default):
30 events (22.6/min): 28 person, unchanged, and 2 vehicle (1.5/min), one per parked vehicle for the whole
clip (0–74 s and 0–79 s, "truck" by vote).

Review items (issue #20, agents/edge/events/review_items.py; printed after the events): the same 30 events
make 1 item (0.8/min), 0–79 s, "person, truck": someone is in view through the whole clip, so the people's
overlapping tracks are one activity. The parked vehicles are active only for their first 5 s (standing
points moved < 0.01 of the picture in 79 s), so in a quiet scene they would make one item and then nothing;
here they fall into the opening activity. Items are cut at 120 s, so a scene that is busy all day makes at
most 30 items an hour. The items the edge sends (each event's ``review_item``, placed as it opens and
updates, ``events/review_items.py``'s ``ItemGrouper``) agree: 1 item (0.8/min) of all 30 events.

YOLOX-Nano, letterboxed at 640 (shipped since 2026-12-05), same run, NanoDet → YOLOX: 30 → 28 events: person
28 → 26, vehicles 2 "truck" → 1 "truck" (the van) and 1 "car" (the car), each one event for the whole clip. 4 of
YOLOX's person events are the sign post at the top left (13–17, 19–31, 38, 54–66 s: it scores about the
threshold, so its track ends and opens again), NanoDet's none. With vtest's camera rules (a mask over the post's
foot, ``--camera-rules bench/detection_sets/vtest/camera.json``): 24 events, person 22, none at the post; 1
review item either way (the scene is never empty).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import av
import numpy as np

from agents.edge.db import open_database
from agents.edge.detection.camera_rules import CameraRules, standing_point
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.motion import MotionGate
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import group, spans_of
from agents.edge.events.store import EventStore
from agents.edge.models.fetch import fetch
from agents.edge.models.store import ModelStore
from agents.edge.tracking.tracker import Tracker
from guardian.runtime.logging import configure_logging

CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
# The sign post at the top left that YOLOX at 640 calls a person, masked by vtest's camera rules.
POST = CameraRules.from_json("campus", (Path(__file__).parent / "detection_sets" / "vtest" / "camera.json").read_text())
T0 = 1_780_000_000.0


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return 0.0


def stood_at_post(track: list[list[float]]) -> bool:
    """Whether a track's first box stands (its bottom-centre) at the post's foot: the post's false alarm."""
    _, x0, y0, x1, y1, _ = track[0]
    return any(mask.contains(*standing_point((x0, y0, x1, y1))) for mask in POST.masks)


def frames(fps: float) -> list[tuple[float, np.ndarray]]:
    out: list[tuple[float, np.ndarray]] = []
    nxt = 0.0
    with av.open(str(CACHE / "vtest.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        for frame in container.decode(stream):
            assert frame.pts is not None
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 >= nxt:
                nxt += 1.0 / fps
                out.append((t, frame.to_ndarray(format="bgr24")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--no-vehicle-merge", action="store_true", help="overlapping vehicle boxes of different labels kept")
    ap.add_argument("--noise-factor", type=float, help="the motion gate's [detection.motion] noise_factor (0: off)")
    ap.add_argument("--model", default="yolox-nano", help="built-in model (default: the shipped one), at its family's "
                    "geometry and thresholds")
    ap.add_argument("--camera-rules", type=Path, metavar="FILE",
                    help="the camera's detection settings (DetectionConfig, proto3 JSON), applied as the service does")
    args = ap.parse_args()
    configure_logging("WARNING")
    work = Path(tempfile.mkdtemp())
    store = ModelStore(work / "models")
    stored = fetch(store, args.model, CACHE)
    rules = CameraRules.from_json("campus", args.camera_rules.read_text()) if args.camera_rules else CameraRules()
    changes: dict[str, Any] = {"merge_vehicles": False} if args.no_vehicle_merge else {}
    if args.noise_factor is not None:
        changes["motion"] = {"noise_factor": args.noise_factor}
    settings = DetectionSettings(**changes)
    detector = Detector(stored, store.load(stored), num_requests=1, filters=settings)
    engine, sessions = open_database(work / "edge.db")
    events = EventStore(sessions)
    manager = EventManager("campus", events, NoMedia(), work, detector.ref)
    gate, tracker = MotionGate(settings.motion), Tracker(settings.tracking)
    footage = frames(args.fps)
    inferred = 0
    for t, frame in footage:
        now = T0 + t
        infer, _, _ = gate.decide(frame, now, tracking=tracker.active)
        if not infer:
            continue
        gate.inferred(now)
        inferred += 1
        manager.handle(tracker.update(rules.apply(detector.detect(frame)), now), frame, now)
    end = T0 + footage[-1][0] + 0.2
    manager.shutdown(tracker.flush(), end)
    minutes = (footage[-1][0] + 0.2) / 60
    rows = events.query(camera="campus")
    by_label = Counter(r.label for r in rows)
    print(f"# vtest {minutes * 60:.1f} s, {len(footage)} frames at {args.fps:g} fps, {inferred} inferred; "
          f"{detector.ref} input {detector.input_hw[1]}×{detector.input_hw[0]} "
          f"{'letterbox' if detector.letterbox else 'stretch'}, merge_vehicles={settings.merge_vehicles} "
          f"noise_factor={settings.motion.noise_factor}, camera rules {args.camera_rules or 'none'}")
    print(f"events: {len(rows)} ({len(rows) / minutes:.1f}/min)")
    for label, n in sorted(by_label.items()):
        print(f"  {label:10} {n:3}  {n / minutes:5.1f}/min")
    at_post = [r for r in rows if stood_at_post(r.track)]
    print(f"  of which standing at the sign post: {len(at_post)} "
          f"({', '.join(f'{r.start_at.timestamp() - T0:.1f}–{(r.end_at or r.start_at).timestamp() - T0:.1f} s' for r in at_post)})")
    vehicles = [r for r in rows if r.label != "person"]
    for r in sorted(vehicles, key=lambda r: r.start_at):
        assert r.end_at is not None
        print(f"  vehicle event {r.label:6} {(r.start_at.timestamp() - T0):5.1f}–{(r.end_at.timestamp() - T0):5.1f} s"
              f" hits {r.hits}")
    # Review items (issue #20): overlapping events grouped, stationary objects active only when they appear
    # or move; printed with and without the stationary rule to show what each part does.
    no_rule = {"still_active_s": float("inf"), "parked_s": float("inf")}
    for title, still in (("grouped", no_rule), ("grouped, stationary suppressed", {})):
        items = group(span for r in rows for span in spans_of(r, **still))
        print(f"review items ({title}): {len(items)} ({len(items) / minutes:.1f}/min)")
        for item in items:
            print(f"  item {item.start - T0:5.1f}–{item.end - T0:5.1f} s  {len(item.event_ids):2} events  "
                  f"{','.join(item.labels)}")
    # What the edge sends: the item each event was placed in as it was opened and updated (review_item).
    placed = Counter(r.review_item for r in rows)
    print(f"review items sent by the edge: {len(placed)} ({len(placed) / minutes:.1f}/min), "
          f"events per item {sorted(placed.values(), reverse=True)}")
    engine.dispose()


if __name__ == "__main__":
    main()
