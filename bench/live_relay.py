"""Live view through the real relay: time to first frame end to end and what each process spends.

    .venv/bin/python bench/live_relay.py [--rounds 5] [--seconds 10]

Parts, all real, on loopback (tests/relay/tlsstack.py, as tests/relay/test_live_signalling.py): the RTSP
test camera, a relay (``guardian-relay run``) and an edge uplink (``guardian-edge uplink run``) in tls
mode, coturn from the relay's template, headless Chromium. Each round is a new viewer on a camera nobody
watches (cold: the edge opens the camera), timed from the browser asking the relay for its TURN server to
the first decoded frame painted, with the relay's signalling (POST offer → the edge's answer) timed on its
own. Then, with one viewer watching, the CPU of the relay process (signalling only: it never touches the
media), the edge uplink (reads the camera, sends SRTP) and coturn (forwards it) over ``--seconds``.
Figures are printed; nothing is asserted (issue #18's goals: first frame <= 1.5 s p95, edge <= 2 % of a
core per stream). bench/live_view.py measures the edge's hub alone, against a plain demux.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live_view import FIRST_FRAME, FOOTAGE, cpu_share, pct  # noqa: E402
from guardian.contracts import auth  # noqa: E402
from tests.conftest import FakeCamera  # noqa: E402
from tests.edge.live.viewer import CHROMIUM, CHROMIUM_ARGS, Viewer  # noqa: E402
from tests.relay.coturn import Coturn  # noqa: E402
from tests.relay.tlsstack import TENANT, TlsStack  # noqa: E402


def start_stack(work: Path, camera: FakeCamera, turn: Coturn) -> TlsStack:
    secret = work / "turn-secret"
    secret.write_bytes(turn.secret + b"\n")
    stack = TlsStack(work / "stack",
                     relay_overrides={"live": {"enabled": True, "turn_urls": [turn.url], "secret_file": secret}},
                     edge_overrides={"cameras": [{"name": "front", "record_url": camera.url()}]})
    stack.start_relay()
    result = stack.enrol()
    assert result.returncode == 0, result.stderr
    from agents.edge.config import EdgeSettings
    from agents.edge.db import open_database
    from agents.edge.video.cameras import sync_cameras
    from guardian.runtime.config import load_settings

    engine, sessions = open_database(stack.edge_db)
    sync_cameras(sessions, load_settings(EdgeSettings, stack.edge_config).cameras)  # what the recorder does
    engine.dispose()
    stack.start_edge()
    return stack


async def watch(browser: Any, http: httpx.AsyncClient, stack: TlsStack) -> tuple[Viewer, str, str, float, float]:
    """A viewer watching through the relay: (viewer, token, session, ms to first frame, ms of signalling)."""
    token = auth.mint_device_token(stack.token_key, tenant_id=TENANT, device_id=stack.device_id, scopes=["live"],
                                   camera="front", relay_url=stack.relay_url, ttl=300)
    url = f"{stack.relay_url}/media/v1/devices/{stack.device_id}/cameras/front/live"
    headers = {"Authorization": f"Bearer {token}"}
    viewer = await Viewer.open(browser)
    await viewer.page.evaluate("() => { window.t0 = performance.now(); }")
    first_frame = asyncio.ensure_future(viewer.page.evaluate(FIRST_FRAME))
    server = (await http.get(url, headers=headers)).json()["ice_servers"][0]
    offer = await viewer.offer(server["urls"][0], server["username"], server["credential"])
    began = time.perf_counter()
    answer = (await http.post(url, json={"sdp": offer}, headers=headers)).json()
    signalling = 1000 * (time.perf_counter() - began)
    await viewer.accept(answer["sdp"])
    return viewer, token, answer["session"], float(await asyncio.wait_for(first_frame, 30)), signalling


async def run(args: argparse.Namespace, stack: TlsStack, turn: Coturn) -> None:
    from playwright.async_api import async_playwright

    first: list[float] = []
    signalling: list[float] = []
    context = ssl.create_default_context(cafile=str(stack.ca_cert))
    async with httpx.AsyncClient(verify=context, timeout=30) as http, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.rounds):
                viewer, token, session, ms, sig = await watch(browser, http, stack)
                first.append(ms)
                signalling.append(sig)
                await viewer.close()
                url = f"{stack.relay_url}/media/v1/devices/{stack.device_id}/cameras/front/live/{session}"
                await http.delete(url, headers={"Authorization": f"Bearer {token}"})
                await asyncio.sleep(1)  # the edge stops the camera read with its last viewer
            assert turn.proc is not None
            pids = [stack.procs["relay"].pid, stack.procs["edge"].pid, turn.proc.pid]
            idle = await cpu_share(pids, args.seconds)  # nobody watching: what the processes spend anyway
            viewer, *_ = await watch(browser, http, stack)
            await asyncio.sleep(2)
            relay, edge, coturn = await cpu_share(pids, args.seconds)
            await viewer.close()
        finally:
            await browser.close()
    print(f"time to first frame through the relay, cold, {len(first)} rounds: p50 {statistics.median(first):.0f} ms, "
          f"p95 {pct(first, 0.95):.0f} ms, max {max(first):.0f} ms")
    print(f"  of which signalling (POST offer -> the edge's answer via the relay): p50 "
          f"{statistics.median(signalling):.0f} ms, p95 {pct(signalling, 0.95):.0f} ms")
    print(f"CPU with one viewer, % of a core: relay process {relay:.1f} (no media), edge uplink {edge:.1f}, "
          f"coturn {coturn:.1f}; with nobody watching: {idle[0]:.1f}, {idle[1]:.1f}, {idle[2]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="time-to-first-frame rounds (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10, help="CPU measuring window (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="live-relay-") as tmp:
        work = Path(tmp)
        camera = FakeCamera(FOOTAGE)
        camera.start()
        try:
            with Coturn(work) as turn:
                stack = start_stack(work, camera, turn)
                try:
                    asyncio.run(run(args, stack, turn))
                finally:
                    stack.close()
        finally:
            camera.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
