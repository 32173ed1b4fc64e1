"""Live view across the namespace topology of issue #18 (tests/edge/live/netlab.py): Chromium can reach
only the relay's public address, the edge only the relay's tunnel address, and coturn (configured from
the relay's template: relaying only within the tunnel network) is the one path between them. The
browser decodes the camera's frames; what crosses the tunnel link is encrypted (SRTP inside TURN): the
stream's own H.264 parameter set, which plaintext RTP would carry at every keyframe, never appears on it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import av
import pytest

from agents.edge.live.h264 import find_sps
from agents.edge.live.hub import LiveHub
from agents.edge.live.types import CameraStreams, TurnServer
from tests.conftest import FakeCamera
from tests.edge.live.netlab import RELAY_PUBLIC, LiveLab
from tests.edge.live.viewer import CHROMIUM_ARGS, Viewer
from tests.relay.coturn import Coturn

pytestmark = pytest.mark.slow
ETH_P_ALL = 0x0003


def stream_sps(footage: Path) -> bytes:
    """The footage's SPS, as the camera sends it in-band before each keyframe."""
    with av.open(str(footage)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe:
                sps = find_sps(bytes(av.BitStreamFilterContext("h264_mp4toannexb", stream).filter(packet)[0]))
                assert sps is not None
                return sps
    raise AssertionError("no keyframe in the footage")


class Capture:
    """Every frame on one interface (AF_PACKET), collected in a thread until :meth:`stop`."""

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.2)
        self.frames: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.frames.append(self.sock.recv(65535))
            except TimeoutError:
                continue

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return b"".join(self.frames)


def test_browser_and_edge_meet_only_through_turn(fake_camera: FakeCamera, footage_mp4: Path, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    sps = stream_sps(footage_mp4)
    with av.open(str(footage_mp4)) as container:
        width, height = container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height

    async def scenario(lab: LiveLab, turn: Coturn) -> tuple[bytes, bytes]:
        hub = LiveHub({"front": CameraStreams(main_url=fake_camera.url())})
        capture = Capture(lab.edge_veth)
        # The control: the camera's RTSP on loopback is plaintext, and the same search finds it there.
        control = Capture("lo")
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(lab.chromium), args=CHROMIUM_ARGS)
                try:
                    viewer = await Viewer.open(browser)
                    browser_creds, edge_creds = turn.mint("ns-browser"), turn.mint("ns-edge")
                    offer = await viewer.offer(turn.url_at(RELAY_PUBLIC), browser_creds.username, browser_creds.credential)
                    edge_turn = TurnServer((turn.url_at(lab.relay_tunnel),), edge_creds.username, edge_creds.credential)
                    session, answer = await hub.open_session("front", offer, edge_turn, time.time() + 120)
                    await viewer.accept(answer)
                    first = await viewer.frames_beyond(0)
                    # Past at least one more keyframe (the footage has one every 20 frames).
                    stats = await viewer.frames_beyond(first["framesDecoded"] + 25, timeout_ms=30000)
                    assert (stats["width"], stats["height"]) == (width, height)
                    assert (stats["localCandidate"], stats["remoteCandidate"]) == ("relay", "relay")
                    await viewer.close()
                    await asyncio.wait_for(session.ended.wait(), 30)
                finally:
                    await browser.close()
        finally:
            await hub.close()
            seen, clear = capture.stop(), control.stop()
        return seen, clear

    with LiveLab(tmp_path) as lab, Coturn(tmp_path, listen_ips=(RELAY_PUBLIC, lab.relay_tunnel),
                                          relay_ip=lab.relay_tunnel, peers=lab.tunnel_network,
                                          netns=lab.ns_relay) as turn:
        seen, clear = asyncio.run(scenario(lab, turn))
    assert sps[:12] in clear
    assert len(seen) > 100_000, "the media did not cross the tunnel link"
    assert sps[:12] not in seen, "the camera's H.264 crossed the tunnel in the clear"
