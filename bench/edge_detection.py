"""Edge detection benchmark: bare OpenVINO throughput (baseline) vs the full pipeline on the same model
in the same run, per-stage latency, and inferences per minute on a static vs a busy scene.

    .venv/bin/python bench/edge_detection.py [--frames 200]

Footage: the cached vtest.mp4 (campus, people walking), decoded at 5 fps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from agents.edge.db import open_database
from agents.edge.detection.detector import Detector, FilterSettings
from agents.edge.detection.motion import MotionGate
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.models.fetch import fetch
from agents.edge.models.store import ModelStore
from agents.edge.tracking.tracker import Tracker

CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):  # noqa: ANN001
        pass

    def clip(self, camera, start, end, target, partial_ok=False):  # noqa: ANN001
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    store = ModelStore(tmp / "models")
    stored = fetch(store, "nanodet", CACHE)
    model = store.load(stored)
    # Decode once (decode cost measured separately, not inside either throughput figure).
    frames, t0 = [], time.perf_counter()
    with av.open(str(CACHE / "vtest.mp4")) as c:
        s = c.streams.video[0]
        nxt = 0.0
        for f in c.decode(s):
            t = float(f.pts * s.time_base)
            if t + 1e-6 < nxt:
                continue
            nxt += 0.2
            frames.append((t, f.to_ndarray(format="bgr24")))
            if len(frames) >= args.frames:
                break
    decode_ms = (time.perf_counter() - t0) / len(frames) * 1e3
    det = Detector(stored, model, filters=FilterSettings(labels={"person", "car", "truck"}))
    for _, f in frames[:8]:
        det.detect(f)
    # Baseline: bare OpenVINO (same compiled model, AsyncInferQueue, no decode of outputs).
    done = []
    det.queue.set_callback(lambda req, ud: done.append(ud))
    t0 = time.perf_counter()
    for i, (_, f) in enumerate(frames):
        det.queue.start_async({0: det._tensor(f)}, i)
    det.queue.wait_all()
    bare = len(frames) / (time.perf_counter() - t0)
    # Full pipeline: motion → detect (async) → decode/NMS → track → events (SQLite + outbox).
    det.queue.set_callback(det._done)
    engine, sessions = open_database(tmp / "edge.db")
    manager = EventManager("bench", EventStore(sessions), NoMedia(), tmp, det.ref)
    gate, tracker = MotionGate(), Tracker()
    stage = {"motion": [], "track+events": [], "latency": []}
    results = []
    det.on_result = results.append
    t0 = time.perf_counter()
    handled = 0
    for i, (t, f) in enumerate(frames):
        a = time.perf_counter()
        infer, _, _ = gate.decide(f, 1e9 + t, tracking=tracker.active)
        stage["motion"].append(time.perf_counter() - a)
        if infer:
            det.submit(f, (1e9 + t, f), block=True)
            gate.inferred(1e9 + t)
        while handled < len(results):
            r = results[handled]
            handled += 1
            b = time.perf_counter()
            manager.handle(tracker.update(r.detections, r.userdata[0]), r.userdata[1], r.userdata[0])
            stage["track+events"].append(time.perf_counter() - b)
            stage["latency"].append(r.latency_s)
    det.wait()
    for r in results[handled:]:
        b = time.perf_counter()
        manager.handle(tracker.update(r.detections, r.userdata[0]), r.userdata[1], r.userdata[0])
        stage["track+events"].append(time.perf_counter() - b)
        stage["latency"].append(r.latency_s)
    pipeline = len(frames) / (time.perf_counter() - t0)
    # Gating: inferences per minute on a static scene (one frame looped with noise) vs the busy footage.
    rng = np.random.default_rng(0)
    still = frames[len(frames) // 2][1]
    g = MotionGate()
    static = 0
    for i in range(300):  # 60 s at 5 fps
        noisy = np.clip(still.astype(np.int16) + rng.integers(-4, 5, still.shape, dtype=np.int16), 0, 255).astype(np.uint8)
        ok, _, _ = g.decide(noisy, i / 5, tracking=False)
        if ok:
            g.inferred(i / 5)
            static += 1
    g, tr, busy = MotionGate(), Tracker(), 0
    for t, f in frames[:300]:
        ok, _, _ = g.decide(f, t, tracking=tr.active)
        if ok:
            g.inferred(t)
            busy += 1
    busy_per_min = busy / (min(300, len(frames)) / 5) * 60

    def ms(xs: list[float]) -> str:
        return f"p50 {statistics.median(xs) * 1e3:.2f} ms, p95 {np.percentile(xs, 95) * 1e3:.2f} ms"

    print(f"frames: {len(frames)} (768x576, 5 fps of vtest.mp4); requests: {det.capacity}; model {det.ref}")
    print(f"decode (PyAV, BGR): {decode_ms:.2f} ms/frame (outside both figures)")
    print(f"bare OpenVINO throughput:  {bare:.1f} inferences/s")
    print(f"full pipeline throughput:  {pipeline:.1f} frames/s  ({pipeline / bare * 100:.0f} % of bare)")
    print(f"  motion gate:     {ms(stage['motion'])}")
    print(f"  inference (submit→result incl. decode/NMS): {ms(stage['latency'])}")
    print(f"  track + events:  {ms(stage['track+events'])}")
    print(f"inferences/min: static scene {static} vs busy scene {busy_per_min:.0f}")
    engine.dispose()


if __name__ == "__main__":
    main()
