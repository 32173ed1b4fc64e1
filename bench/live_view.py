"""Live view cost and start-up: time to first frame and the edge's CPU per stream, against a plain PyAV
demux of the same camera stream measured in the same run (the floor: what reading the camera costs).

    .venv/bin/python bench/live_view.py [--rounds 5] [--seconds 10] [--viewers 3] [--skip-cpu]

Parts, all real, on loopback: the RTSP test camera (real footage, H.264 passed through), coturn from
the relay's template with minted credentials, the edge's live hub in a child process (so its CPU is its
own; signalling is JSON lines on its stdin/stdout), headless Chromium viewers (relay-only ICE).
1. Time to first frame, per round: from the page creating its peer connection to the first decoded frame
   painted (requestVideoFrameCallback), with nobody watching the camera before (cold: the edge opens
   the camera) and with another viewer already watching (warm: the read is shared; joined at a random
   moment). The camera sends a keyframe every 2 s and a viewer starts at one: cold, the one the camera
   opens its stream with (the edge once dropped it and waited ~2 s for the next: agents/edge/live/reader.py
   LiveStreamOptions); warm, the edge's GOP cache (agents/edge/live/gop.py) starts the viewer with the
   current GOP at once, where without it the viewer waits for the next keyframe. Each round also runs on a second edge process with the cache off (the baseline,
   same camera, same run). Each first frame is split into its steps: the browser's offer (ICE gathering:
   the TURN allocation), the edge's answer (camera open when cold, its own TURN allocation), ICE checks
   and DTLS to "connected", and from there to the first frame painted.
2. CPU of the edge process and of coturn over ``--seconds`` with 1 viewer and with ``--viewers`` viewers,
   and of a child process that only demuxes the same stream with the recorder's reader (the baseline).
Figures are printed; nothing is asserted (issue #18's goals: first frame <= 1.5 s p95, <= 2 % of a core
per stream).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import FakeCamera  # noqa: E402
from tests.edge.live.viewer import CHROMIUM, CHROMIUM_ARGS, Viewer  # noqa: E402
from tests.relay.coturn import Coturn  # noqa: E402

FOOTAGE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian")) / "vtest.mp4"
# Marks when the answer is taken and when the connection is up (performance.now(), like window.t0).
MARK_CONNECTED = """() => {
  window.tAccept = performance.now();
  const mark = () => { if (window.pc.connectionState === 'connected' && !window.tConnected) window.tConnected = performance.now(); };
  window.pc.addEventListener('connectionstatechange', mark);
  mark();
}"""
FIRST_FRAME = """() => new Promise((done) => {
  const v = document.getElementById('v');
  v.requestVideoFrameCallback(() => done(performance.now() - window.t0));
})"""


# -- the child processes ------------------------------------------------------------------------------

def protocol_out() -> Any:
    """The child's answers go to the original stdout; anything else printed (logs) goes to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr
    return out


async def edge_worker(url: str, gop_cache_bytes: int) -> None:
    """The edge's live hub; one JSON request per stdin line, one JSON answer per stdout line."""
    from agents.edge.live.hub import LiveHub
    from agents.edge.live.types import CameraStreams, TurnServer

    out = protocol_out()
    hub = LiveHub({"cam": CameraStreams(main_url=url)}, gop_cache_bytes=gop_cache_bytes)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), file=out)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        request = json.loads(line)
        if request["op"] == "open":
            turn = TurnServer((request["turn"][0],), request["turn"][1], request["turn"][2])
            session, answer = await hub.open_session("cam", request["offer"], turn, time.time() + 600)
            print(json.dumps({"session": session.session_id, "answer": answer}), file=out)
        elif request["op"] == "stop":
            await hub.stop_session(request["session"])
            print(json.dumps({"readers": hub.readers_running}), file=out)
    await hub.close()


def demux_worker(url: str) -> None:
    """The baseline: the recorder's reader demuxing the stream, packets dropped, until stdin closes."""
    from agents.edge.video.ingest import StreamOptions, run_sessions
    from agents.edge.video.status import StatusTracker

    out = protocol_out()
    stop = threading.Event()

    def session(container: Any, stream: Any) -> None:
        for _packet in container.demux(stream):
            if stop.is_set():
                return

    thread = threading.Thread(target=run_sessions, args=(url, StatusTracker("cam"), StreamOptions(), stop, session))
    thread.start()
    print(json.dumps({"ready": True}), file=out)
    sys.stdin.read()
    stop.set()
    thread.join()


# -- the driver -----------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    def __init__(self, mode: str, url: str, *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, mode, url, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL)
        assert json.loads(self.read())["ready"]

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply: dict[str, Any] = json.loads(await asyncio.to_thread(self.read))
        return reply

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


STEPS = ("offer", "answer", "connect", "frame")


async def open_viewer(browser: Any, edge: Child, turn: Coturn, tag: str,
                      steps: dict[str, list[float]] | None = None) -> tuple[Viewer, str, float]:
    """A viewer watching; returns it, its session id and its time to first frame in ms (its steps, in ms,
    appended to ``steps``)."""
    viewer = await Viewer.open(browser)
    await viewer.page.evaluate("() => { window.t0 = performance.now(); }")
    first_frame = asyncio.ensure_future(viewer.page.evaluate(FIRST_FRAME))
    browser_creds, edge_creds = turn.mint(f"{tag}-b"), turn.mint(f"{tag}-e")
    offer = await viewer.offer(turn.url, browser_creds.username, browser_creds.credential)
    offered = await viewer.page.evaluate("() => performance.now() - window.t0")
    reply = await edge.ask({"op": "open", "offer": offer, "turn": [turn.url, edge_creds.username, edge_creds.credential]})
    await viewer.page.evaluate(MARK_CONNECTED)
    await viewer.accept(reply["answer"])
    ttff = float(await asyncio.wait_for(first_frame, 30))
    if steps is not None:
        accepted, connected = await viewer.page.evaluate("() => [window.tAccept - window.t0, window.tConnected - window.t0]")
        for step, ms in zip(STEPS, (offered, accepted - offered, connected - accepted, ttff - connected), strict=True):
            steps[step].append(ms)
    return viewer, reply["session"], ttff


async def cpu_share(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU over ``seconds``, in % of one core."""
    before, started = [cpu_seconds(pid) for pid in pids], time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    return [100 * (cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.0f} ms, p95 {pct(values, 0.95):.0f} ms, max {max(values):.0f} ms"


class Run:
    """One edge's time-to-first-frame figures, cold and warm, and their steps."""

    def __init__(self) -> None:
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.cold_steps: dict[str, list[float]] = {step: [] for step in STEPS}
        self.warm_steps: dict[str, list[float]] = {step: [] for step in STEPS}

    def report(self, name: str) -> None:
        for kind, values, steps in (("cold", self.cold, self.cold_steps), ("warm", self.warm, self.warm_steps)):
            parts = ", ".join(f"{step} {statistics.median(ms):.0f}" for step, ms in steps.items())
            print(f"time to first frame, {kind}, GOP {name}, {len(values)} rounds: {summary(values)} "
                  f"(median steps, ms: {parts})")


async def run(args: argparse.Namespace, camera: FakeCamera, turn: Coturn) -> None:
    from playwright.async_api import async_playwright

    edge = Child("--edge-worker", camera.url())
    uncached = Child("--edge-worker", camera.url(), "0")  # the baseline: no GOP cache
    runs = {"cache": (edge, Run()), "nocache": (uncached, Run())}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for r in range(args.rounds):
                for name, (worker, figures) in runs.items():
                    viewer, session, ms = await open_viewer(browser, worker, turn, f"cold{r}{name}", figures.cold_steps)
                    figures.cold.append(ms)
                    # The first viewer's first frame was a keyframe: join the shared read at a random phase
                    # of the camera's 2 s keyframe interval, not always just after one.
                    await asyncio.sleep(random.uniform(0, 2))
                    other, other_session, ms = await open_viewer(browser, worker, turn, f"warm{r}{name}", figures.warm_steps)
                    figures.warm.append(ms)
                    for v, s in ((other, other_session), (viewer, session)):
                        await v.close()
                        reply = await worker.ask({"op": "stop", "session": s})
                    assert reply["readers"] == 0, "the camera read outlived its viewers"
            uncached.close()
            for name, (_, figures) in runs.items():
                figures.report(name)
            if args.skip_cpu:
                return

            viewers = [await open_viewer(browser, edge, turn, "cpu0")]
            await asyncio.sleep(2)  # let the start-up settle before measuring
            assert turn.proc is not None
            one, relay_one = await cpu_share([edge.proc.pid, turn.proc.pid], args.seconds)
            for i in range(1, args.viewers):
                viewers.append(await open_viewer(browser, edge, turn, f"cpu{i}"))
            await asyncio.sleep(2)
            many, relay_many = await cpu_share([edge.proc.pid, turn.proc.pid], args.seconds)
            for viewer, session, _ in viewers:
                await viewer.close()
                await edge.ask({"op": "stop", "session": session})
        finally:
            await browser.close()
            edge.close()
            uncached.close()
    baseline_child = Child("--demux-worker", camera.url())
    try:
        await asyncio.sleep(2)
        (baseline,) = await cpu_share([baseline_child.proc.pid], args.seconds)
    finally:
        baseline_child.close()

    print(f"edge CPU, 1 viewer: {one:.1f} % of a core; {args.viewers} viewers: {many:.1f} % "
          f"(+{(many - one) / max(1, args.viewers - 1):.1f} % per extra viewer)")
    print(f"relay (coturn) CPU, 1 viewer: {relay_one:.1f} % of a core; {args.viewers} viewers: {relay_many:.1f} %")
    print(f"baseline, PyAV demux of the same stream alone: {baseline:.1f} % of a core "
          f"(live view adds {one - baseline:.1f} % for the first viewer)")


def main() -> int:
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--edge-worker":
        from agents.edge.live.gop import DEFAULT_GOP_CACHE_BYTES

        asyncio.run(edge_worker(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else DEFAULT_GOP_CACHE_BYTES))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--demux-worker":
        demux_worker(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="time-to-first-frame rounds (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10, help="CPU measuring window (default: %(default)s)")
    parser.add_argument("--viewers", type=int, default=3, help="viewers for the per-viewer cost (default: %(default)s)")
    parser.add_argument("--skip-cpu", action="store_true", help="time to first frame only")
    args = parser.parse_args()
    camera = FakeCamera(FOOTAGE)
    camera.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, Coturn(Path(tmp)) as turn:
            asyncio.run(run(args, camera, turn))
    finally:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
