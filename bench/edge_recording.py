"""Benchmark: CPU cost of recording by remux, and how many cameras one process records.

Runs the real test camera (GStreamer RTSP server, real footage, one pipeline per mount) and, in this
process:

1. baseline — N threads that only read the streams (RTSP/TCP demux, packets dropped);
2. recording — N CameraRecorders (read + remux into 10 s fMP4 segments + fsync + SQLite index);

and prints CPU seconds per minute of footage per camera for both (process CPU time, same run), the
difference (what recording adds, as % of one core per camera), then records 24 and 32 cameras to see
when it falls behind (received frame rate below 95 % of the camera's 10 fps, or lag growing).
Then the frame reader for detection: decode-all + convert sampled frames vs keyframes only.

    .venv/bin/python bench/edge_recording.py [--cameras 16] [--seconds 30]

Figures, never assertions: compare the two columns of one run, on one machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.edge.video.frames import FrameReader  # noqa: E402
from agents.edge.video.ingest import StreamOptions, open_stream  # noqa: E402
from agents.edge.video.recording import CameraRecorder, RecordingOptions, VideoMetrics  # noqa: E402
from agents.edge.video.segments import VideoStore  # noqa: E402
from guardian.runtime.metrics import AgentMetrics  # noqa: E402
from tests.conftest import FakeCamera  # noqa: E402

CAMERA_FPS = 10.0


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_only(urls: list[str], seconds: float) -> tuple[float, list[int]]:
    stop = threading.Event()
    counts = [0] * len(urls)
    opened = threading.Barrier(len(urls) + 1)

    def reader(i: int, url: str) -> None:
        container, stream = open_stream(url, StreamOptions())
        try:
            opened.wait()
            for packet in container.demux(stream):
                if stop.is_set():
                    return
                if packet.size:
                    counts[i] += 1
        finally:
            container.close()

    threads = [threading.Thread(target=reader, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    opened.wait()
    time.sleep(1.0)  # let the connect burst pass
    base = list(counts)
    c0 = cpu()
    time.sleep(seconds)
    used = cpu() - c0
    got = [c - b for c, b in zip(counts, base, strict=True)]
    stop.set()
    for t in threads:
        t.join(10)
    return used, got


def record(urls: list[str], seconds: float, root: Path) -> tuple[float, list[int], list[float], int]:
    store = VideoStore.open(root, root / "edge.db")
    metrics = VideoMetrics(AgentMetrics("bench"))
    recs = [CameraRecorder(f"cam{i}", u, store, RecordingOptions(segment_seconds=10), metrics) for i, u in enumerate(urls)]
    for r in recs:
        r.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(r.status.snapshot().state == "streaming" for r in recs):
        time.sleep(0.2)
    time.sleep(1.0)
    packets = metrics.packets
    base = [packets.labels(r.camera)._value.get() for r in recs]
    c0 = cpu()
    time.sleep(seconds)
    used = cpu() - c0
    got = [packets.labels(r.camera)._value.get() - b for r, b in zip(recs, base, strict=True)]
    lags = [metrics.lag.labels(r.camera)._value.get() for r in recs]
    for r in recs:
        r.stop_event.set()
    for r in recs:
        r.stop()
    segments = sum(len(store.segments(r.camera)) for r in recs)
    return used, got, lags, segments


def frames_cost(url: str, fps: float, seconds: float, convert: bool = True) -> tuple[float, int, int]:
    reader = FrameReader("bench", url, fps=fps)
    frames = iter(reader)
    next(frames)  # the clock starts at the first frame (the stream is open by then)
    c0, t_end = cpu(), time.monotonic() + seconds
    d0 = reader.decoded_frames
    for frame in frames:
        if convert:
            frame.bgr()
        if time.monotonic() >= t_end:
            reader.close()
    return cpu() - c0, reader.decoded_frames - d0, reader.yielded_frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--more", type=int, nargs="*", default=[24, 32], help="camera counts to try after")
    args = parser.parse_args()
    cache = Path.home() / ".cache" / "guardian"
    top = max([args.cameras, *args.more])
    camera = FakeCamera(cache / "vtest.mp4", mounts=(), count=top)
    camera.start()
    try:
        n = args.cameras
        urls = [camera.url(f"/cam{i}") for i in range(n)]
        minutes = n * args.seconds / 60
        base_cpu, base_pk = read_only(urls, args.seconds)
        with tempfile.TemporaryDirectory() as tmp:
            rec_cpu, rec_pk, lags, segs = record(urls, args.seconds, Path(tmp))
        print(f"cameras: {n}, measured {args.seconds:g} s each phase, camera {CAMERA_FPS:g} fps 768x576 H.264 ~0.8 Mbit/s")
        print(f"{'phase':<28}{'CPU s/min/camera':>18}{'% of a core/camera':>20}{'fps/camera (min)':>18}")
        for name, used, pk in (("read only (baseline)", base_cpu, base_pk), ("read + record (remux)", rec_cpu, rec_pk)):
            print(f"{name:<28}{used / minutes:>18.3f}{100 * used / (n * args.seconds):>20.2f}{min(pk) / args.seconds:>18.2f}")
        added = (rec_cpu - base_cpu) / (n * args.seconds)
        print(f"recording adds {100 * added:.2f} % of one core per camera; segments written: {segs}; "
              f"max recording lag {max(lags):.2f} s")
        print("\nscaling (recording only):")
        for m in [n, *args.more]:
            urls = [camera.url(f"/cam{i}") for i in range(m)]
            with tempfile.TemporaryDirectory() as tmp:
                used, pk, lags, _ = record(urls, 20.0, Path(tmp))
            worst = min(pk) / 20.0
            behind = worst < 0.95 * CAMERA_FPS or max(lags) > 2.0
            print(f"  {m:>3} cameras: {100 * used / 20.0:6.1f} % of one core total, worst camera {worst:5.2f} fps, "
                  f"max lag {max(lags):5.2f} s -> {'FALLING BEHIND' if behind else 'keeping up'}")
        print("\nframes for detection (one camera, 20 s, BGR conversion of yielded frames):")
        url = camera.url("/cam0")
        for label, fps in (("5 fps: decode all, convert 5/s", 5.0), ("10 fps: decode all, convert all", 10.0),
                           ("0.4 fps: keyframes only (auto)", 0.4)):
            used, decoded, _ = frames_cost(url, fps, 20.0)
            print(f"  {label:<36} {100 * used / 20.0:6.1f} % of one core, {decoded / 20.0:5.1f} frames decoded/s")
    finally:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
