"""What a restart does with the segment files a killed recorder left without an index row: each is
recovered (cut back to its last complete fragment and indexed) or removed, and the log says which, with
the seconds kept or the reason."""

from __future__ import annotations

from pathlib import Path

import av

from agents.edge.video.recording import SEGMENT_MOVFLAGS
from agents.edge.video.segments import VideoStore

from .helpers import JsonLogs


def fragmented(footage: Path, target: Path, seconds: float) -> list[int]:
    """The footage's first ``seconds`` as the recorder writes a segment (a fragment per 2-second GOP);
    the byte offsets at which each fragment ends."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(footage)) as source, av.open(str(target), "w", format="mp4",
                                                  options={"movflags": SEGMENT_MOVFLAGS}) as out:
        src = source.streams.video[0]
        time_base = src.time_base
        assert time_base is not None  # known for the MP4 footage
        dst = out.add_stream_from_template(src)
        for packet in source.demux(src):
            if packet.dts is None:
                continue
            assert packet.pts is not None  # a packet with a dts has a pts in this footage
            if packet.pts * time_base >= seconds:
                break
            packet.stream = dst
            out.mux(packet)
    ends, pos, previous = [], 0, b""
    data = target.read_bytes()
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind == b"mdat" and previous == b"moof":
            ends.append(pos + size)
        previous, pos = kind, pos + size
    return ends


def test_a_restart_says_which_half_written_segments_it_recovered_and_which_it_removed(
    footage_mp4, tmp_path, json_logs: JsonLogs
):
    store = VideoStore.open(tmp_path / "data", tmp_path / "data" / "edge.db")
    hour = store.recordings_dir / "cam1" / "2026-12-02" / "07"
    # Killed in its third fragment: two whole fragments (4 s) are kept.
    half = hour / "10-00.000000.mp4"
    ends = fragmented(footage_mp4, half, 10)
    half.write_bytes(half.read_bytes()[: ends[2] - 1000])
    # Killed before its first fragment was complete: nothing to keep.
    early = hour / "20-00.000000.mp4"
    fragmented(footage_mp4, early, 10)
    early.write_bytes(early.read_bytes()[: ends[0] - 10])
    early_size = early.stat().st_size
    try:
        assert store.reconcile() == (0, 2)

        [recovered] = json_logs.events("segment_recovered")
        assert recovered["path"] == "recordings/cam1/2026-12-02/07/10-00.000000.mp4"
        assert recovered["camera"] == "cam1" and recovered["seconds"] == 4.0 and recovered["frames"] == 40
        assert recovered["bytes"] == ends[1] and recovered["bytes_cut"] == ends[2] - 1000 - ends[1]
        [segment] = store.segments("cam1")
        assert segment.frames == 40 and half.stat().st_size == ends[1]

        [removed] = json_logs.events("segment_removed")
        assert removed["path"] == "recordings/cam1/2026-12-02/07/20-00.000000.mp4"
        assert removed["reason"] == f"no complete fragment in its {early_size} bytes " \
                                    "(cut short before its first fragment was complete)"
        assert not early.exists()
    finally:
        store.sessions.kw["bind"].dispose()
