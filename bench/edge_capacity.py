"""How many cameras one edge (this machine) carries with each detection setting: the real detector on
decoded frames of real footage, the plain (shipped) setting as the baseline, all in one run.

    .venv/bin/python bench/edge_capacity.py [--fps 5] [--stream-fps 15] [--frames 60] [--rounds 2]
                                            [--settings plain,416,lb512,lb640,tiles2x1]
                                            [--models yolox-nano,nanodet]

Footage: the market_street film (640×360, a detection sub-stream's size; scripts/setup.d/25-detection-sets.sh),
decoded once; decoding is timed on its own (CPU per frame), since a camera's sub-stream is decoded at its
full rate whatever detection does with it.

Per setting, a :class:`~agents.edge.detection.detector.Detector` as the service builds it (THROUGHPUT hint,
OpenVINO's number of infer requests, graph post-processing) is fed the frames as fast as it takes them
(``submit(block=True)``, tiles as a camera's ``detection.tiles`` sends them), in ``--rounds`` rounds that
alternate the settings (a neighbour's load hits them alike). Printed per setting: inferences per frame,
frames/s (wall clock), process CPU per frame, and the cameras one edge carries when every frame a camera
offers at ``--fps`` is inferred (a busy scene: the motion gate saves nothing) —

- *by wall clock*: frames/s ÷ fps (the machine as shared as it is now);
- *by CPU*: cores ÷ (fps × CPU per frame + stream-fps × decode CPU per frame): the figure for an
  otherwise idle box, decoding included.

Figures only; nothing fails on a number. On this machine (2 shared cores, load ~11 from other jobs, so the
wall-clock column is low; ``--frames 40 --rounds 2``; decode 1.3 ms CPU per 640×360 frame): CPU per frame
and cameras at 5 fps by CPU — plain (416, stretch) 22.6 ms, 15.0 cameras; letterbox 512: 47 ms, 7.9 (52 %);
letterbox 640: 54 ms, 6.8 (46 %); 2×1 tiles + full frame (3 inferences): 65 ms, 5.8 (39 %); letterbox +
2×1 tiles: 71 ms, 5.4 (36 %). By wall clock under that load: 3.1 / 2.1 / 1.8 / 1.7 / 1.3 cameras. So
tiles are a per-camera choice for the wide, distant scenes, not a default.

YOLOX-Nano, the default since 2026-12-05, beside NanoDet in one run (``--frames 40 --rounds 2 --settings
plain,lb640,tiles2x1``, the machine otherwise idle; decode 1.2 ms CPU per frame): CPU per frame and cameras at 5 fps
by CPU — plain 15.1 ms, 21.3 cameras (NanoDet 24.3 ms, 14.3); letterbox 640 33.9 ms, 10.6 (NanoDet 6.9); 2×1 tiles
46.0 ms, 8.0 (NanoDet 5.2). By wall clock: 25.4 / 11.4 / 8.4 cameras (NanoDet 16.0 / 7.2 / 5.3).

Since YOLOX runs letterboxed at 640 by default (its family's geometry; ``plain`` is that, ``416`` the stretch at
416 shipped before), ``--frames 40 --rounds 2 --settings plain,416,lb512,tiles2x1 --models yolox-nano``, decode
1.8 ms CPU per frame: plain 39.5 ms, **8.9 cameras** by CPU (9.8 by wall clock); 416 18.3 ms, 16.8 (20.7); letterbox
512 28.0 ms, 12.0 (13.8); 2×1 tiles at 416 53.3 ms, 6.8 (7.1). Every frame inferred (a busy scene): the motion
gate skips most frames of a still one.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.tiling import TileGrid
from agents.edge.models.fetch import fetch
from agents.edge.models.store import ModelStore

CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
FOOTAGE = CACHE / "detection_sets" / "market_street.mp4"


@dataclass(frozen=True)
class Setting:
    changes: dict[str, object]
    tiles: TileGrid | None = None


STRETCH_416 = {"input_fit": "stretch", "input_size": 416}
SETTINGS = {
    # As shipped: the model family's own geometry (YOLOX letterboxed at 640, NanoDet stretched at its 416).
    "plain": Setting({}),
    "416": Setting(STRETCH_416),  # YOLOX's shipped one until 2026-12-05
    "letterbox": Setting({"input_fit": "letterbox", "input_size": 416}),
    "lb512": Setting({"input_fit": "letterbox", "input_size": 512}),
    "lb640": Setting({"input_fit": "letterbox", "input_size": 640}),
    "tiles2x1": Setting(STRETCH_416, TileGrid(2, 1)),
    "lb+tiles2x1": Setting({"input_fit": "letterbox", "input_size": 416}, TileGrid(2, 1)),
    "tiles2x2": Setting(STRETCH_416, TileGrid(2, 2)),
}


def decode(path: Path, count: int) -> tuple[list[np.ndarray], float]:
    """``count`` frames (every 5th, so the scene changes) and the decode CPU time per decoded frame."""
    frames: list[np.ndarray] = []
    decoded = 0
    cpu = time.process_time()
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            decoded += 1
            image = frame.to_ndarray(format="bgr24")
            if index % 5 == 0:
                frames.append(image)
            if len(frames) >= count:
                break
    return frames, (time.process_time() - cpu) / decoded


def run(detector: Detector, frames: list[np.ndarray], tiles: TileGrid | None) -> tuple[float, float]:
    """(frames/s, CPU s per frame) feeding ``frames`` as fast as the detector takes them."""
    done = threading.Event()
    left = [len(frames)]
    lock = threading.Lock()

    def on_result(_: object) -> None:
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    detector.on_result = on_result
    wall, cpu = time.perf_counter(), time.process_time()
    for frame in frames:
        detector.submit(frame, None, block=True, tiles=tiles)
    done.wait()
    return len(frames) / (time.perf_counter() - wall), (time.process_time() - cpu) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--fps", type=float, default=5.0, help="frames analysed per camera per second")
    ap.add_argument("--stream-fps", type=float, default=15.0, help="the sub-stream's frame rate (all decoded)")
    ap.add_argument("--frames", type=int, default=60, help="frames per setting and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settings", default="plain,416,lb512,lb640,tiles2x1")
    ap.add_argument("--models", default=f"{DetectionSettings().model},nanodet",
                    help="built-in models, each run with every setting; the first one's plain is the baseline")
    args = ap.parse_args()
    settings = args.settings.split(",")
    cores = len(os.sched_getaffinity(0))
    frames, decode_cpu = decode(FOOTAGE, args.frames)
    store = ModelStore(Path(tempfile.mkdtemp()) / "models")
    shipped = DetectionSettings()
    detectors: dict[str, Detector] = {}
    tiles_of: dict[str, TileGrid | None] = {}
    for model in args.models.split(","):
        stored = fetch(store, model, CACHE)
        for s in settings:
            name = f"{model}:{s}"
            detectors[name] = Detector(stored, store.load(stored), filters=shipped.model_copy(update=SETTINGS[s].changes))
            tiles_of[name] = SETTINGS[s].tiles
    names = list(detectors)
    for n in names:  # warm-up: first inferences of a shape compile kernels
        run(detectors[n], frames[:4], tiles_of[n])
    measured: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            measured[n].append(run(detectors[n], frames, tiles_of[n]))
    print(f"# {args.models}, {frames[0].shape[1]}×{frames[0].shape[0]} frames, {cores} cores, "
          f"{args.frames} frames × {args.rounds} rounds per setting; decode {decode_cpu * 1000:.1f} ms CPU/frame; "
          f"cameras at {args.fps:g} fps analysed, {args.stream_fps:g} fps decoded")
    print(f"{'model:setting':24} {'inf/frame':>9} {'frames/s':>9} {'CPU ms/f':>9} {'cams(wall)':>10} {'cams(CPU)':>10} {'vs plain':>8}")
    base = None
    for n in names:
        fps = statistics.median(m[0] for m in measured[n])
        cpu = statistics.median(m[1] for m in measured[n])
        tiles = tiles_of[n]
        per_frame = len(tiles.windows(frames[0].shape[:2])) if tiles else 1
        by_cpu = cores / (args.fps * cpu + args.stream_fps * decode_cpu)
        base = base or by_cpu
        print(f"{n:24} {per_frame:9} {fps:9.1f} {cpu * 1000:9.1f} {fps / args.fps:10.1f} {by_cpu:10.1f} "
              f"{by_cpu / base:8.0%}")
    for detector in detectors.values():
        detector.close()  # a last callback may still be running on OpenVINO's thread: it ends before Python does
    detectors.clear()  # and OpenVINO's objects go now, from this thread, not in the interpreter's teardown
    gc.collect()


if __name__ == "__main__":
    main()
