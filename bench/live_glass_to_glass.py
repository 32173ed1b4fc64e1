"""Glass-to-glass latency of live view: a frame stamped at the source to the same frame shown in Chromium's
<video>, against a plain PyAV read (decode) of the same RTSP stream in the same run (the baseline: what the
camera path alone costs).

    .venv/bin/python bench/live_glass_to_glass.py [--seconds 20]

Parts, all real, on loopback: a source that draws a frame counter into each picture as 16 black/white
blocks and records the wall-clock time it made the frame, encodes it with libx264 (zerolatency, a keyframe
every 2 s) and sends it as RTP to GStreamer's RTSP server (system Python, gi), which serves it as a camera;
the edge's live hub in a child process (bench/live_view.py's worker: H.264 forwarded, never decoded);
coturn from the relay's template with minted credentials (relay-only ICE); headless Chromium, which reads
the counter back from each frame it presents (requestVideoFrameCallback, its expected display time, the
picture drawn on a canvas); a second viewer joins mid-GOP, so it starts from the edge's GOP cache (frames
already old when sent). Latency = shown - made, both on this machine's wall clock; it includes the
source's own encode (a few ms), not a real camera's. Figures are printed; nothing is asserted (issue
#18's goal: p95 <= 500 ms on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live_view import Child, open_viewer, pct  # noqa: E402
from tests.conftest import SYSTEM_PYTHON, free_port  # noqa: E402
from tests.edge.live.viewer import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.relay.coturn import Coturn  # noqa: E402

WIDTH, HEIGHT, FPS, BITS, BLOCK = 640, 480, 25, 16, 40

# The RTSP server: the source's RTP in, served as a camera (one shared pipeline for every client).
RTSP_SERVER = """
import sys, gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
rtsp_port, rtp_port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer(); server.set_service(rtsp_port)
factory = GstRtspServer.RTSPMediaFactory(); factory.set_shared(True); factory.set_latency(0)
factory.set_launch(f'( udpsrc port={rtp_port} buffer-size=4194304 caps="application/x-rtp,media=video,clock-rate=90000,'
                   f'encoding-name=H264,payload=96" ! rtph264depay ! h264parse config-interval=-1 '
                   f'! rtph264pay name=pay0 pt=96 config-interval=-1 )')
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
"""

# Each presented frame: its counter (read from the blocks) and when it is shown (wall clock, ms).
WATCH = """({width, height, bits, block}) => {
  window.shown = [];
  const v = document.getElementById('v');
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const each = (now, meta) => {
    ctx.drawImage(v, 0, 0, width, height);
    const row = ctx.getImageData(0, block / 2, width, 1).data;
    let counter = 0;
    for (let i = 0; i < bits; i++) counter = counter * 2 + (row[4 * (block * i + block / 2)] > 128 ? 1 : 0);
    window.shown.push([counter, performance.timeOrigin + meta.expectedDisplayTime]);
    v.requestVideoFrameCallback(each);
  };
  v.requestVideoFrameCallback(each);
}"""
WATCH_ARGS = {"width": WIDTH, "height": HEIGHT, "bits": BITS, "block": BLOCK}


def picture(counter: int) -> np.ndarray:
    """A grey picture with ``counter`` (16 bits, most significant first) as blocks along the top."""
    image = np.full((HEIGHT, WIDTH), 90, dtype=np.uint8)
    for i in range(BITS):
        bit = (counter >> (BITS - 1 - i)) & 1
        image[:BLOCK, i * BLOCK:(i + 1) * BLOCK] = 235 if bit else 16
    return image


def read_counter(image: np.ndarray) -> int:
    counter = 0
    for i in range(BITS):
        counter = counter * 2 + (1 if image[BLOCK // 2, i * BLOCK + BLOCK // 2] > 128 else 0)
    return counter


class Source:
    """Frames made at 25 fps with their counter, encoded and sent as RTP; ``made[counter]`` is the wall
    time (s) each was made."""

    def __init__(self, rtp_port: int) -> None:
        self.made: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(rtp_port,), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, rtp_port: int) -> None:
        out = av.open(f"rtp://127.0.0.1:{rtp_port}", mode="w", format="rtp")
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "superfast", "tune": "zerolatency", "g": str(2 * FPS), "bf": "0",
                          "x264-params": "repeat-headers=1:sliced-threads=0", "threads": "1"}
        stream.codec_context.time_base = Fraction(1, FPS)
        started = time.monotonic()
        counter = 0
        while not self._stop.is_set():
            time.sleep(max(0.0, started + counter / FPS - time.monotonic()))  # a live source's pace
            frame = av.VideoFrame.from_ndarray(picture(counter % 65536), format="gray").reformat(format="yuv420p")
            frame.pts = counter
            self.made[counter % 65536] = time.time()
            for packet in stream.encode(frame):
                out.mux(packet)
            counter += 1
        out.close()


def baseline_reader(url: str, source: Source, seconds: float, latencies: list[float]) -> None:
    """The same stream read and decoded with PyAV (the recorder's options): made -> decoded. With ``nobuffer``,
    which the recorder no longer sets (it keeps the opening keyframe): the frames buffered while opening would
    count here as seconds of latency."""
    from agents.edge.video.ingest import StreamOptions

    options = {**StreamOptions().av_options(), "fflags": "nobuffer"}
    with av.open(url, options=options, timeout=10) as container:
        end = time.monotonic() + seconds
        for frame in container.decode(video=0):
            decoded = time.time()
            made = source.made.get(read_counter(frame.to_ndarray(format="gray")))
            if made is not None and 0 <= decoded - made < 10:
                latencies.append(1000 * (decoded - made))
            if time.monotonic() > end:
                return


async def run(args: argparse.Namespace, url: str, source: Source,
              turn: Coturn) -> tuple[list[float], list[float], list[float]]:
    from playwright.async_api import async_playwright

    edge = Child("--edge-worker", url)
    baseline: list[float] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                viewer, session, _ = await open_viewer(browser, edge, turn, "g2g")
                await viewer.page.evaluate(WATCH, WATCH_ARGS)
                reading = asyncio.ensure_future(asyncio.to_thread(baseline_reader, url, source, args.seconds, baseline))
                # A second viewer joins mid-GOP (the source's keyframes come every 2 s): it starts with the
                # edge's GOP cache, a burst of frames already old; does its latency settle?
                await asyncio.sleep(3.3)
                second, second_session, _ = await open_viewer(browser, edge, turn, "g2g2")
                await second.page.evaluate(WATCH, WATCH_ARGS)
                await reading
                shown: list[list[float]] = await viewer.page.evaluate("() => window.shown")
                joined: list[list[float]] = await second.page.evaluate("() => window.shown")
                for v, s in ((second, second_session), (viewer, session)):
                    await v.close()
                    await edge.ask({"op": "stop", "session": s})
            finally:
                await browser.close()
    finally:
        edge.close()
    return latencies(shown, source), latencies(joined, source), baseline


def latencies(shown: list[list[float]], source: Source) -> list[float]:
    """Shown - made (ms) of the frames whose counter was read back."""
    out = []
    for counter, ms in shown:
        made = source.made.get(int(counter))
        if made is not None and 0 <= ms - 1000 * made < 10_000:  # a counter misread gives nonsense: left out
            out.append(ms - 1000 * made)
    return out


def summary(values: list[float]) -> str:
    return (f"{len(values)} frames: p50 {statistics.median(values):.0f} ms, p95 {pct(values, 0.95):.0f} ms, "
            f"max {max(values):.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20, help="measuring window (default: %(default)s)")
    args = parser.parse_args()
    rtsp_port, rtp_port = free_port(), free_port()
    server = subprocess.Popen([SYSTEM_PYTHON, "-c", RTSP_SERVER, str(rtsp_port), str(rtp_port)],
                              stdout=subprocess.PIPE, text=True)
    source = Source(rtp_port)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        source.start()
        with tempfile.TemporaryDirectory() as tmp, Coturn(Path(tmp)) as turn:
            browser_ms, joined, baseline = asyncio.run(run(args, f"rtsp://127.0.0.1:{rtsp_port}/cam", source, turn))
    finally:
        source.stop()
        server.terminate()
        server.wait(10)
    if not browser_ms or not joined or not baseline:
        print(f"no frames matched (browser {len(browser_ms)}, {len(joined)}, baseline {len(baseline)})")
        return 1
    print(f"glass to glass, source -> edge (no decode) -> coturn -> Chromium <video> shown: {summary(browser_ms)}")
    settled = joined[len(joined) // 2:]
    print(f"a second viewer joined mid-GOP (started from the edge's GOP cache): {summary(joined)}; "
          f"its second half: p50 {statistics.median(settled):.0f} ms, p95 {pct(settled, 0.95):.0f} ms")
    print(f"baseline, source -> PyAV RTSP read + decode, same stream, same run: {summary(baseline)}")
    print(f"live view adds p50 {statistics.median(browser_ms) - statistics.median(baseline):.0f} ms over the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
