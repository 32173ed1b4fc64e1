"""A viewer's track: it starts at a keyframe, and a viewer that falls behind starts again at the next one
instead of queueing without bound."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from agents.edge.live.track import QUEUE_PACKETS, CameraTrack


def packet(n: int, keyframe: bool) -> av.Packet:
    p = av.Packet(b"\x00\x00\x00\x01" + bytes([0x65 if keyframe else 0x41]) + n.to_bytes(4, "big"))
    p.pts, p.time_base, p.is_keyframe = n, Fraction(1, 90000), keyframe
    return p


def drain(track: CameraTrack) -> list[int]:
    out: list[int] = []
    while not track._queue.empty():
        item = track._queue.get_nowait()
        assert item is not None
        out.append(int(item.pts or 0))
    return out


def test_starts_at_a_keyframe() -> None:
    track = CameraTrack()
    for n, key in enumerate([False, False, True, False, True, False]):
        track.offer(packet(n, key))
    assert drain(track) == [2, 3, 4, 5]
    assert track.packets_dropped == 2


def test_a_viewer_behind_starts_again_at_the_next_keyframe() -> None:
    track = CameraTrack()
    track.offer(packet(0, True))
    for n in range(1, QUEUE_PACKETS + 5):
        track.offer(packet(n, False))
    track.offer(packet(1000, True))
    track.offer(packet(1001, False))
    assert drain(track) == [1000, 1001]


def test_restart_waits_for_a_keyframe_and_end_ends_recv() -> None:
    async def run() -> None:
        track = CameraTrack()
        track.offer(packet(0, True))
        assert (await track.recv()).pts == 0
        track.restart()  # the camera reconnected
        track.offer(packet(1, False))
        track.offer(packet(2, True))
        assert (await track.recv()).pts == 2
        track.end()
        with pytest.raises(MediaStreamError):
            await track.recv()

    asyncio.run(run())
