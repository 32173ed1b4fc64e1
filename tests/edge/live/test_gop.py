"""The GOP cache: a viewer joining a stream already read starts with the current GOP instead of waiting for
the camera's next keyframe; the cache is bounded by bytes and forgets a GOP cut short."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av

from agents.edge.live.gop import GopCache
from agents.edge.live.reader import CameraReader
from agents.edge.live.track import QUEUE_PACKETS, CameraTrack
from agents.edge.video.ingest import StreamOptions
from tests.conftest import FakeCamera


def packet(n: int, keyframe: bool, size: int = 10) -> av.Packet:
    p = av.Packet(b"\x00\x00\x00\x01" + bytes([0x65 if keyframe else 0x41]) + n.to_bytes(4, "big") + bytes(size - 9))
    p.pts, p.time_base, p.is_keyframe = n, Fraction(1, 90000), keyframe
    return p


def pts(packets: list[av.Packet]) -> list[int]:
    return [int(p.pts or 0) for p in packets]


def test_keeps_the_packets_since_the_last_keyframe() -> None:
    gop = GopCache(max_bytes=1000)
    for n, key in enumerate([False, True, False, False, True, False]):
        gop.add(packet(n, key))
    assert pts(gop.packets) == [4, 5]
    gop.clear()  # the camera reconnected
    gop.add(packet(6, False))
    assert gop.packets == []


def test_a_gop_over_the_bound_is_dropped_until_the_next_keyframe() -> None:
    gop = GopCache(max_bytes=30)
    gop.add(packet(0, True))
    gop.add(packet(1, False))
    gop.add(packet(2, False))
    assert pts(gop.packets) == [0, 1, 2]
    gop.add(packet(3, False))  # 40 bytes: over
    gop.add(packet(4, False))
    assert gop.packets == []
    gop.add(packet(5, True))
    assert pts(gop.packets) == [5]
    assert GopCache(max_bytes=0).packets == []


def test_a_track_starts_with_the_gop_then_follows_live() -> None:
    async def run() -> None:
        gop = GopCache()
        for n, key in enumerate([True, False, False]):
            gop.add(packet(n, key))
        track = CameraTrack()
        track.start_with(gop.packets)
        track.offer(packet(3, False))  # live, not a keyframe: taken, it follows the GOP
        assert [int((await track.recv()).pts or 0) for _ in range(4)] == [0, 1, 2, 3]

    asyncio.run(run())


def test_a_track_without_a_usable_gop_waits_for_a_keyframe() -> None:
    for cached in ([], [packet(0, False)], [packet(n, n == 0) for n in range(QUEUE_PACKETS)]):
        track = CameraTrack()
        track.start_with(cached)
        track.offer(packet(500, False))
        track.offer(packet(501, True))
        assert track._queue.qsize() == 1 and track._queue.get_nowait().pts == 501  # type: ignore[union-attr]


def test_a_second_viewer_of_a_real_camera_starts_at_once_with_its_gop(fake_camera: FakeCamera) -> None:
    """The shared reader of the test camera (a keyframe every 2 s): the second viewer's track holds the
    current GOP the moment it subscribes, the same keyframe the first viewer last got."""

    async def run() -> None:
        reader = CameraReader("front", fake_camera.url(), StreamOptions())
        first = reader.subscribe()
        try:
            last_keyframe = None
            # Past a keyframe and a few packets after it: the cache holds a GOP under way.
            for _ in range(300):
                got = await asyncio.wait_for(first.recv(), 20)
                if got.is_keyframe:
                    last_keyframe = got.pts
                elif last_keyframe is not None and got.pts is not None and got.pts > last_keyframe:
                    break
            second = reader.subscribe()
            assert not second._queue.empty(), "the second viewer waits for the next keyframe"
            head = second._queue.get_nowait()
            assert head is not None and head.is_keyframe and head.pts == last_keyframe
            await reader.unsubscribe(second)
        finally:
            await reader.close()

    asyncio.run(run())
