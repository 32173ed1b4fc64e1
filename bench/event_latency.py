"""Event latency on the demo stack: from the detector emitting an event on the edge to a browser-like
client receiving it over the cloud's Server-Sent Events stream.

    .venv/bin/python bench/event_latency.py [--seconds 120]

Starts the real demo stack (demo.stack: fake camera with real footage → edge recorder, detector, uplink →
relay in tls mode → cloud) in a temporary directory on free ports, signs in as the demo tenant, listens
on ``GET /api/v1/events/stream`` and notes when each event id is first received. The emission time is
the detector's ``event_opened`` log line, at debug (the edge runs at debug here; the event is stored and
queued in the outbox in that same step). Same machine, same clock. Prints p50/p95/max over the events
seen; it never fails on a number.
Stages the event crosses: edge outbox → uplink gRPC (mTLS) → relay cache → forwarder (polls every
``cloud.interval_s`` = 0.2 s in the demo) → cloud ingest → bus → SSE.

Baseline, measured in the same run against the same stack: the browser's own round trip to the cloud
(signed-in ``GET /api/v1/events?limit=1``: TLS-less loopback HTTP, auth, one database query), the
floor any pipeline figure above sits on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.stack import DemoStack, Options, Ports


def listen(stack: DemoStack, seen: dict[str, float], stop: threading.Event, connected: threading.Event) -> None:
    assert stack.info is not None
    with httpx.Client(base_url=stack.cloud_url, timeout=httpx.Timeout(10, read=30)) as client:
        stack.login(client, stack.info.email, stack.info.password)
        with client.stream("GET", "/api/v1/events/stream") as response:
            response.raise_for_status()
            for line in response.iter_lines():
                now = time.time()
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    event_id = json.loads(line[6:])["id"]
                    seen.setdefault(event_id, now)
                if stop.is_set():
                    return


def emitted(detector_log: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in detector_log.read_text(errors="replace").splitlines():
        if '"event_opened"' not in line:
            continue
        record = json.loads(line)
        out[record["event_id"]] = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
    return out


def cloud_round_trips(stack: DemoStack, count: int) -> list[float]:
    """Milliseconds per signed-in ``GET /api/v1/events?limit=1`` on one kept-alive connection."""
    assert stack.info is not None
    out: list[float] = []
    with httpx.Client(base_url=stack.cloud_url, timeout=30) as client:
        stack.login(client, stack.info.email, stack.info.password)
        client.get("/api/v1/events", params={"limit": 1}).raise_for_status()  # warm the connection
        for _ in range(count):
            start = time.perf_counter()
            client.get("/api/v1/events", params={"limit": 1}).raise_for_status()
            out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to collect events")
    parser.add_argument("--baseline-requests", type=int, default=200, help="cloud round trips for the baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guardian-bench-") as tmp:
        stack = DemoStack(Options(state_dir=Path(tmp), ports=Ports.free(), echo=False, edge_log_level="DEBUG"))
        began = time.monotonic()
        stack.up()
        print(f"stack ready in {time.monotonic() - began:.1f} s "
              f"({', '.join(f'{k} {v:.1f}' for k, v in stack.timings.items())})")
        seen: dict[str, float] = {}
        stop, connected = threading.Event(), threading.Event()
        thread = threading.Thread(target=listen, args=(stack, seen, stop, connected), daemon=True)
        thread.start()
        connected.wait(30)
        since = time.time()
        try:
            time.sleep(args.seconds)
            baseline = cloud_round_trips(stack, args.baseline_requests)  # same stack, same run
        finally:
            stop.set()
            opened = emitted(stack.path("logs", "detector.log"))
            stack.down()
    latencies = [(seen[i] - t) * 1000 for i, t in opened.items() if i in seen and t >= since]
    missing = [i for i, t in opened.items() if i not in seen and t >= since]
    if not latencies:
        print("no events measured")
        return 1
    print(f"events emitted while listening: {len(latencies) + len(missing)}, received over SSE: {len(latencies)}")
    print(f"event latency detector → browser (SSE): p50 {pct(latencies, 0.5):.0f} ms, "
          f"p95 {pct(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms")
    print(f"baseline, same run: browser → cloud round trip (GET /api/v1/events?limit=1, n={len(baseline)}): "
          f"p50 {pct(baseline, 0.5):.1f} ms, p95 {pct(baseline, 0.95):.1f} ms, max {max(baseline):.1f} ms")
    print(f"event latency p50 = {pct(latencies, 0.5) / pct(baseline, 0.5):.0f} × the baseline p50 "
          f"(the forwarder's 0.2 s poll is a design floor of this path)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
