"""Camera discovery time: ``guardian-edge cameras discover`` on a namespace LAN of simulated ONVIF cameras.

    .venv/bin/python bench/onvif_discovery.py [--cameras 4] [--rounds 3] [--timeout 2]

The LAN is the tests' (tests/edge/onvif/lan.py): the RTSP fake camera and ``--cameras`` simulated ONVIF
cameras (tests/fakes/onvif_camera.py, WS-Security digest auth on) in one namespace, the edge command in
the other. Per round it prints the WS-Discovery wait (the probe timeout: the library waits it out), the
time to ask every camera its identity and profiles (in parallel), and the whole command; the baseline,
measured in the same run, is one camera. Medians over ``--rounds``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.edge.onvif.lan import CameraLan

FOOTAGE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian")) / "vtest.mp4"
GUARDIAN_EDGE = str(Path(sys.executable).with_name("guardian-edge"))
PASSWORD = "bench-camera-password"


def measure(cameras: int, rounds: int, timeout: float, workdir: Path) -> dict[str, float]:
    secret = workdir / "password"
    secret.write_text(PASSWORD)
    figures: dict[str, list[float]] = {"search_s": [], "describe_s": [], "command_s": []}
    with CameraLan() as lan:
        rtsp = lan.start_rtsp_camera(FOOTAGE)
        for _ in range(cameras):
            lan.start_onvif_camera(rtsp, user="admin", password=PASSWORD)
        for _ in range(rounds):
            started = time.monotonic()
            proc = lan.run_edge(GUARDIAN_EDGE, "cameras", "discover", "--timeout", str(timeout),
                                "--user", "admin", "--password-file", str(secret))
            figures["command_s"].append(time.monotonic() - started)
            report = json.loads(proc.stdout)
            found = [c for c in report["cameras"] if c["error"] is None]
            if len(found) != cameras:
                raise SystemExit(f"found {len(found)} of {cameras} cameras: {proc.stdout}")
            figures["search_s"].append(report["search_s"])
            figures["describe_s"].append(report["describe_s"])
    return {k: statistics.median(v) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="WS-Discovery probe timeout (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted({1, args.cameras}):
            f = measure(n, args.rounds, args.timeout, Path(tmp))
            print(f"{n} camera(s), probe timeout {args.timeout:g} s: search {f['search_s']:.3f} s, "
                  f"describe {f['describe_s']:.3f} s, whole command {f['command_s']:.3f} s (median of {args.rounds})")


if __name__ == "__main__":
    main()
