"""The whole chain on the real campus footage (decoded offline from the cached vtest.mp4 at 5 fps):
motion gate → detector → tracker → events in SQLite with snapshots and outbox rows; and the gate on a
static scene."""

from __future__ import annotations

import numpy as np
from PIL import Image

from agents.edge.db import open_database
from agents.edge.db.tables import OutboxItem
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.motion import MotionGate
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.outbox import OutboxKind
from agents.edge.tracking.tracker import Tracker
from agents.edge.video.snapshots import write_snapshot
from guardian.contracts.edge.v1 import uplink_pb2

T0 = 1_780_000_000.0  # a fixed wall-clock origin for the footage


class SnapshotsOnly:
    """Snapshots through the video side's writer; no recording runs here, so no clips."""

    def snapshot(self, frame, box, snapshot, thumbnail):
        write_snapshot(frame, snapshot, thumbnail, box=box)

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def test_footage_gives_plausible_person_events_and_sees_the_parked_vehicles(model_store, footage, tmp_path):
    stored = model_store.get("nanodet")
    filters = DetectionSettings(labels=["person", "car", "truck"], threshold=0.5,
                             thresholds={"car": 0.3, "truck": 0.3})
    detector = Detector(stored, model_store.load(stored), filters=filters)
    engine, sessions = open_database(tmp_path / "edge.db")
    store = EventStore(sessions)
    manager = EventManager("campus", store, SnapshotsOnly(), tmp_path, detector.ref)
    gate, tracker = MotionGate(), Tracker()
    vehicles: list[float] = []
    inferred = 0
    for t, frame in footage:
        now = T0 + t
        infer, _, _ = gate.decide(frame, now, tracking=tracker.active)
        if not infer:
            continue
        gate.inferred(now)
        inferred += 1
        dets = detector.detect(frame)
        vehicles += [d.score for d in dets if d.label in ("car", "truck")]
        manager.handle(tracker.update([d for d in dets if d.label != "car" and d.label != "truck"], now), frame, now)
    end = T0 + footage[-1][0] + 1
    manager.shutdown(tracker.flush(), end)

    people = store.query(camera="campus", label="person")
    # The 79.5 s clip shows about a dozen different walkers (several pairs and groups crossing, a few
    # re-entering). Bound: at least 5 (several, not one long blob) and at most 40 (well under one event per
    # analysed frame, ~400 here; fragmentation of a walker into 2-3 tracks behind the trees is tolerated).
    assert 5 <= len(people) <= 40, len(people)
    assert all(e.ended and e.end_at is not None and e.end_at >= e.start_at and e.max_score >= 0.5 for e in people)
    with_snapshot = [e for e in people if e.snapshot_ref]
    assert len(with_snapshot) == len(people)
    img = Image.open(tmp_path / with_snapshot[0].snapshot_ref)
    assert img.size == (768, 576)
    assert (tmp_path / with_snapshot[0].thumbnail_ref).is_file()
    assert len(people[0].track) >= 3
    # The parked van (as truck, ~0.39) and car (~0.38) are seen at a 0.3 threshold.
    assert vehicles and max(vehicles) >= 0.3
    # One outbox row per event, carrying the final state.
    with sessions() as s:
        rows = s.query(OutboxItem).filter(OutboxItem.kind == int(OutboxKind.EVENT)).all()
    assert len(rows) == len(people)
    msg = uplink_pb2.Event.FromString(rows[0].payload)
    assert msg.ended and msg.label == "person" and msg.snapshot_ref and len(msg.track) >= 3
    # Queries by time window.
    mid = people[len(people) // 2]
    window = store.query(since=mid.start_at, until=mid.start_at)
    assert mid.id in {e.id for e in window}
    engine.dispose()


def test_static_scene_triggers_near_zero_inferences(footage):
    """A still frame looped for 2 minutes at 5 fps, with sensor-like noise: after warm-up only the
    periodic static check (every 30 s) runs: 600 frames → at most warm-up (5) + 4 periodic."""
    still = footage[100][1]
    rng = np.random.default_rng(1)
    gate = MotionGate()
    reasons = []
    for i in range(600):
        noisy = np.clip(still.astype(np.int16) + rng.integers(-4, 5, still.shape, dtype=np.int16), 0, 255).astype(np.uint8)
        now = T0 + i / 5
        infer, reason, _ = gate.decide(noisy, now, tracking=False)
        if infer:
            gate.inferred(now)
            reasons.append(reason)
    assert reasons.count("motion") == 0
    assert len(reasons) <= 5 + 4, reasons
    # The same gate on the busy footage sends most frames on.
    gate = MotionGate()
    busy = sum(gate.decide(f, T0 + t, tracking=False)[0] for t, f in footage)
    assert busy > 0.5 * len(footage)


def test_motion_downscale_is_the_exact_block_average():
    """The gate's fast downscale (strided sums) equals the plain block mean, for odd sizes too."""
    from agents.edge.detection.motion import downscale_grey

    rng = np.random.default_rng(2)
    for h, w, width in ((576, 768, 160), (1080, 1920, 160), (101, 67, 32), (50, 30, 160)):
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        f = max(1, w // width)
        hh, ww = (h // f) * f, (w // f) * f
        expected = frame[:hh, :ww, 1].reshape(hh // f, f, ww // f, f).mean(axis=(1, 3))
        np.testing.assert_allclose(downscale_grey(frame, width), expected, atol=1e-3)
