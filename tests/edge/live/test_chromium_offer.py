"""The edge's answer to a real Chromium offer (tests/edge/live/sdp/, captured from Debian's Chromium), for
cameras of every H.264 profile and level the edge meets: a Constrained Baseline sub-stream at level 3.0,
High at two levels in one process, Main. aiortc negotiates it as for a viewer, without a browser or TURN
(tests/edge/live/test_live_profiles.py shows Chromium decoding the same cameras)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiortc.sdp import SessionDescription, parse_h264_profile_level_id

from agents.edge.live.h264 import answer_profile
from agents.edge.live.session import ViewerSession
from agents.edge.live.track import CameraTrack
from agents.edge.live.types import TurnServer

OFFER = Path(__file__).parent / "sdp" / "chromium-156-offer.sdp"

# Profile-level-ids of cameras (from their SPS): x264's baseline (constraint_set0+1) at 3.0, the usual
# sub-stream; the same flags as WebRTC writes them (set0+1+2) at 3.1; High at 3.1 (the test footage) and
# 4.0 (a main stream); Main at 4.1 and 3.0.
CAMERAS = ("42c01e", "42e01f", "64001f", "640028", "4d0029", "4d001e")


def chromium_offer() -> str:
    lines = [line for line in OFFER.read_text().splitlines() if not line.startswith("#")]
    return "\r\n".join(lines) + "\r\n"


def h264_codecs(sdp: str) -> dict[int, dict[str, str]]:
    """The H.264 codecs of the video section: payload type -> fmtp parameters."""
    (video,) = [m for m in SessionDescription.parse(sdp).media if m.kind == "video"]
    return {int(c.payloadType or 0): {k: str(v) for k, v in c.parameters.items()}
            for c in video.rtp.codecs if c.mimeType.lower() == "video/h264"}


def profile(plid: str) -> object:
    return parse_h264_profile_level_id(plid)[0]


def test_answer_profile_picks_an_offered_codec() -> None:
    offered = {p["profile-level-id"] for p in h264_codecs(chromium_offer()).values()
               if p["packetization-mode"] == "1"}
    assert offered == {"42001f", "42e01f", "4d001f", "f4001f"}  # Debian's Chromium: no plain High
    expected = {"42c01e": "42e01f", "42e01f": "42e01f", "64001f": "f4001f", "640028": "f4001f",
                "4d0029": "4d001f", "4d001e": "4d001f"}
    assert {camera: answer_profile(camera, chromium_offer()) for camera in CAMERAS} == expected


def test_every_camera_is_answered_with_a_codec_chromium_offered() -> None:
    """One process answers them all in turn, as one edge does for its cameras' streams."""
    offer = chromium_offer()
    offered = h264_codecs(offer)

    async def answer(camera_plid: str) -> str:
        async def ended(_session: ViewerSession) -> None:
            return None

        # No ICE server: the answer then carries no candidates, and negotiation is all this tests.
        session = ViewerSession("test", "front", CameraTrack(), TurnServer((), "", ""), time.time() + 60, ended)
        try:
            return await session.answer(offer, camera_plid)
        finally:
            await session.close()

    for camera in CAMERAS:
        answered = h264_codecs(asyncio.run(answer(camera)))
        assert len(answered) == 1, (camera, answered)
        ((pt, parameters),) = answered.items()
        # Chromium maps the answer's payload type back to its own codec: same profile, packetization-mode 1.
        assert pt in offered, (camera, pt)
        assert offered[pt]["packetization-mode"] == parameters["packetization-mode"] == "1"
        assert profile(offered[pt]["profile-level-id"]) == profile(parameters["profile-level-id"])
        assert parameters["level-asymmetry-allowed"] == "1"
        assert offered[pt]["profile-level-id"] == answer_profile(camera, offer)

