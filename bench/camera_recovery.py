"""Benchmark: how long a camera outage costs in recording, with the shipped reconnect cap and the old one.

Runs the real test camera (RTSP, real footage) and one CameraRecorder in this process; stops the camera
for ``--outage`` seconds, starts it again on the same address, and prints per reconnect cap:

- the recording gap: end of the last segment before the outage to the start of the first one after it;
- the recovery: from the camera's return to the start of the first segment recorded after it (a segment
  starts at a keyframe: up to a GOP, 2 s for the test footage, after the first packet);
- the reconnect waits the recorder chose (its ``stream_failed`` log lines).

The old cap (30 s) is the baseline: a 30 s outage had cost a 55 s gap in the field.

    .venv/bin/python bench/camera_recovery.py [--outage 30] [--caps 2,30]

Figures, never assertions (the jitter makes every run a little different).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.edge.config import RecordingSettings  # noqa: E402
from agents.edge.video.recording import CameraRecorder, RecordingOptions  # noqa: E402
from agents.edge.video.segments import VideoStore  # noqa: E402
from guardian.runtime.logging import configure_logging  # noqa: E402
from tests.conftest import FakeCamera  # noqa: E402

FOOTAGE = Path.home() / ".cache" / "guardian" / "vtest.mp4"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def run(cap: float, outage: float, footage: Path) -> dict[str, object]:
    logs = io.StringIO()
    configure_logging("INFO", stream=logs)
    camera = FakeCamera(footage)
    camera.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = VideoStore.open(Path(tmp) / "data", Path(tmp) / "data" / "edge.db")
        settings = RecordingSettings(segment_seconds=2, fsync=False, backoff_max_s=min(cap, 10))
        options = RecordingOptions.from_settings(settings)
        # The old cap is no longer a valid setting: set past the validation, on the options themselves.
        options = replace(options, stream=replace(options.stream, backoff_max_s=cap))
        recorder = CameraRecorder("cam1", camera.url(), store, options)
        recorder.start()
        try:
            wait_for(lambda: len(store.segments("cam1")) >= 2, 30, "segments before the outage")
            camera.stop()
            time.sleep(outage)
            camera.start()
            back = time.time()
            wait_for(lambda: any(s.start_ts >= back for s in store.segments("cam1")), 120, "a segment after the outage")
            status = recorder.status.snapshot()
            segments = store.segments("cam1")
            before = max(s.end_ts for s in segments if s.start_ts < back - outage)
            after = min(s.start_ts for s in segments if s.start_ts >= back)
        finally:
            recorder.stop()
            camera.stop()
            store.sessions.kw["bind"].dispose()
    waits = [json.loads(line)["retry_in_s"] for line in logs.getvalue().splitlines()
             if line.startswith("{") and '"stream_failed"' in line]
    return {"cap_s": cap, "outage_s": outage, "gap_s": round(after - before, 1),
            "recovery_s": round(after - back, 1), "reconnects": status.reconnects, "waits_s": waits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--caps", default=f"{RecordingSettings().backoff_max_s:g},30")
    parser.add_argument("--footage", type=Path, default=FOOTAGE)
    args = parser.parse_args()
    print(f"{'cap s':>6} {'outage s':>9} {'gap s':>6} {'recovery s':>11}  waits s")
    for cap in (float(c) for c in args.caps.split(",")):
        r = run(cap, args.outage, args.footage)
        print(f"{r['cap_s']:>6g} {r['outage_s']:>9g} {r['gap_s']:>6} {r['recovery_s']:>11}  {r['waits_s']}")
    configure_logging("INFO")


if __name__ == "__main__":
    main()
