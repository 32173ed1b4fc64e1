"""The recorder on a real, small filesystem that fills up (a tmpfs mounted for the test).

- hard ENOSPC: no free-space floor and a byte budget larger than the filesystem, so the disk (footage
  and the edge database on it) fills before the budget does; the recording service meets ENOSPC and
  SQLITE_FULL for real and must free space, log and count the episode once, keep recording, and leave a
  sound database whose every row points at a complete, decodable file;
- the floor: the same filesystem with ``min_free_bytes`` set: the disk never fills at all;
- a segment cut short by ENOSPC is kept up to its last complete fragment and decodes;
- a database that cannot commit even a deletion still gets space freed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from sqlalchemy.exc import OperationalError

from agents.edge.config import EdgeSettings, RetentionSettings
from agents.edge.video.mp4 import truncate_to_fragments
from agents.edge.video.recording import SEGMENT_MOVFLAGS, RecordingOptions, SegmentWriter, VideoMetrics
from agents.edge.video.retention import Retention
from agents.edge.video.segments import NewSegment, VideoStore, is_disk_full
from agents.edge.video.service import RecorderAgent
from guardian.runtime.metrics import AgentMetrics
from guardian.runtime.service import serve
from tests.conftest import free_port

from .helpers import recorder, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
]

MIB = 1024 * 1024
FS_SIZE = 8 * MIB  # about 80 s of the test footage; two cameras fill it in about 40 s


# fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``small_fs(size_bytes)`` mounts a fresh tmpfs of that size and returns its path; unmounted after."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        if subprocess.run(["umount", str(point)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], check=True)  # a leaked descriptor: detach anyway


# helpers ----------------------------------------------------------------------------------------------
def dispose(store: VideoStore) -> None:
    store.sessions.kw["bind"].dispose()  # close SQLite's descriptors, so the tmpfs can be unmounted


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def decoded_frames(path: Path) -> int:
    """Open ``path`` with PyAV and decode every frame; returns how many."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def assert_footage_sound(store: VideoStore, cameras: list[str]) -> None:
    """Every row's file exists with the indexed size, opens and decodes all its frames; no file on disk
    without a row; the database passes SQLite's integrity check."""
    assert integrity(store.root / "edge.db") == "ok"
    indexed = set()
    bad = []
    for camera in cameras:
        segs = store.segments(camera)
        for index, seg in enumerate(segs):
            path = store.absolute(seg.path)
            assert path.is_file(), f"row without its file: {seg.path}"
            assert path.stat().st_size == seg.size_bytes, f"truncated after indexing: {seg.path}"
            frames: int | av.error.FFmpegError
            try:
                frames = decoded_frames(path)
            except av.error.FFmpegError as exc:
                frames = exc
            if frames != seg.frames:
                bad.append((index, len(segs), seg.path, seg.frames, frames))
            indexed.add(path.resolve())
    assert not bad, f"(index, of, path, frames indexed, frames decoded or error): {bad}"
    on_disk = {p.resolve() for p in store.recordings_dir.rglob("*.mp4")}
    assert on_disk == indexed, f"unindexed files: {sorted(map(str, on_disk - indexed))}"


def sample(agent: RecorderAgent, name: str, **labels: str) -> float:
    return agent.metrics.registry.get_sample_value(f"guardian_edge_{name}", labels) or 0.0


def run_service(settings: EdgeSettings, until: Callable[[RecorderAgent], bool], timeout: float) -> tuple[RecorderAgent, str, bool]:
    """Run the recording service until ``until(agent)`` (polled twice a second) or ``timeout``; returns
    the agent, its last /metrics page and whether ``until`` was met."""
    agent = RecorderAgent(settings)
    result: dict = {"met": False}

    async def run() -> int:
        async def watch() -> None:
            started = time.monotonic()
            while agent.store is None or not agent.recorders:
                await asyncio.sleep(0.1)
            while time.monotonic() - started < timeout:
                if await asyncio.to_thread(until, agent):
                    result["met"] = True
                    break
                await asyncio.sleep(0.5)
            url = f"http://127.0.0.1:{settings.metrics.port}/metrics"
            result["metrics"] = (await asyncio.to_thread(httpx.get, url)).text
            os.kill(os.getpid(), signal.SIGTERM)

        watcher = asyncio.create_task(watch())
        code = await serve(agent)
        await watcher
        return code

    assert asyncio.run(run()) == 0
    assert agent.store is not None  # opened before ``until`` was first asked
    dispose(agent.store)
    return agent, result["metrics"], result["met"]


def service_settings(data_dir: Path, url: str, retention: dict) -> EdgeSettings:
    return EdgeSettings(
        storage={"data_dir": data_dir},
        metrics={"port": free_port()},
        recording={"segment_seconds": 4, "stall_timeout_s": 3, "open_timeout_s": 6, "backoff_initial_s": 0.3, "backoff_max_s": 2},
        retention={"max_bytes": 1024**3, "interval_s": 1, **retention},  # a budget far larger than the disk
        cameras=[{"name": "front", "record_url": url}, {"name": "back", "record_url": url}],
    )


class Watch:
    """What the watcher saw while the service ran: every segment indexed, the smallest free space."""

    def __init__(self, fs: Path) -> None:
        self.fs = fs
        self.seen: dict[str, tuple[float, int]] = {}  # stored path -> (start_ts, size)
        self.min_free = float("inf")

    def look(self, agent: RecorderAgent) -> None:
        self.min_free = min(self.min_free, shutil.disk_usage(self.fs).free)
        assert agent.store is not None  # run_service asks once the store is open
        for camera in ("front", "back"):
            for seg in agent.store.segments(camera):
                self.seen.setdefault(seg.path, (seg.start_ts, seg.size_bytes))

    def recorded_bytes(self) -> int:
        return sum(size for _start, size in self.seen.values())

    def assert_oldest_deleted_first(self, store: VideoStore) -> list[str]:
        rows = [s for camera in ("front", "back") for s in store.segments(camera)]
        for seg in rows:  # the last ones, completed as the service stopped
            self.seen.setdefault(seg.path, (seg.start_ts, seg.size_bytes))
        kept = {s.path for s in rows}
        deleted = [p for p in self.seen if p not in kept]
        assert deleted, "space had to be freed"
        assert max(self.seen[p][0] for p in deleted) < min(self.seen[p][0] for p in kept)
        return deleted


# the service on a disk that fills -----------------------------------------------------------------------
def test_disk_fills_for_real_recording_frees_space_and_goes_on(small_fs, fake_camera, json_logs):
    fs = small_fs(FS_SIZE)
    settings = service_settings(fs / "data", fake_camera.url(), {"min_free_bytes": 0, "min_free_percent": 0})
    watch = Watch(fs)
    first_episode: dict[str, float] = {}

    def until(agent: RecorderAgent) -> bool:
        watch.look(agent)
        if not first_episode and any(sample(agent, "video_disk_full_episodes_total", camera=c) for c in ("front", "back")):
            first_episode["at"] = time.time()
        if not first_episode:
            return False
        # Done once each camera has recorded at least three segments after the disk filled.
        after = first_episode["at"] + 1
        assert agent.store is not None  # run_service asks once the store is open
        return all(len([s for s in agent.store.segments(c) if s.start_ts > after]) >= 3 for c in ("front", "back"))

    agent, metrics, met = run_service(settings, until, timeout=180)
    camera_exit = fake_camera.proc.poll() if fake_camera.proc else "stopped"
    assert first_episode, f"the disk never filled (least free: {watch.min_free} B, camera process exit: {camera_exit})"
    assert met, "recording did not go on after the disk filled"
    assert watch.recorded_bytes() > FS_SIZE, "more was recorded than the filesystem holds"

    # The full disk was met for real: ENOSPC from the muxer, a file found cut short on the full disk
    # (FFmpeg does not report a failed write while closing), or SQLITE_FULL from the database. (The
    # watcher's samples, twice a second, rarely catch the moment the disk is full.)
    warnings = json_logs.events("recording_disk_full")
    assert warnings
    for warning in warnings:
        assert warning["error"].startswith(("No space left on device", "database or disk is full")), warning
    for camera in ("front", "back"):
        episodes = sample(agent, "video_disk_full_episodes_total", camera=camera)
        mine = [w for w in warnings if w["camera"] == camera]
        # One warning per episode, however many writes failed in it; every episode ended.
        assert len(mine) == episodes
        assert len(json_logs.events("recording_recovered", camera=camera)) == episodes
        assert sample(agent, "video_write_errors_total", camera=camera) >= episodes
        assert sample(agent, "video_disk_full", camera=camera) == 0
        # The stream was never dropped: a disk-full is not a camera failure.
        for failure in ("ended", "bad_stream", "stalled", "timeout", "unreachable", "no_video"):
            assert sample(agent, "video_reconnects_total", camera=camera, failure=failure) == 0, failure
    assert not json_logs.events("session_crashed") and not json_logs.events("retention_failed")
    # Every failure was the full disk: none from a file removed under the writer (retention only ever
    # deletes indexed segments, never the one being written).
    assert not json_logs.events("segment_write_failed")
    # Retention raised its floor once and deleted for the disk-full; no repeating fill-and-fail cycle.
    raised = json_logs.events("free_space_floor_raised")
    assert len(raised) >= 1 and raised[0]["configured_bytes"] == 0
    assert agent.retention is not None
    assert agent.retention.learned_floor >= 1 * MIB
    assert sample(agent, "retention_deleted_total", footage="continuous", reason="disk_full") >= 1
    total_episodes = sum(sample(agent, "video_disk_full_episodes_total", camera=c) for c in ("front", "back"))
    assert total_episodes <= 2, "after the floor was raised the disk must not fill again"
    for name in ("guardian_edge_video_disk_full_episodes_total", "guardian_edge_video_segments_salvaged_total",
                 "guardian_edge_video_disk_full", "guardian_edge_retention_free_floor_bytes"):
        assert name in metrics, name

    store = VideoStore.open(fs / "data", fs / "data" / "edge.db")
    try:
        watch.assert_oldest_deleted_first(store)
        assert_footage_sound(store, ["front", "back"])
        assert store.reconcile() == (0, 0)  # nothing for a restart to repair
    finally:
        dispose(store)


def test_free_space_floor_keeps_the_disk_from_filling(small_fs, fake_camera, json_logs):
    fs = small_fs(FS_SIZE)
    floor = 3 * MIB
    settings = service_settings(fs / "data", fake_camera.url(), {"min_free_bytes": floor, "min_free_percent": 0})
    watch = Watch(fs)

    def until(agent: RecorderAgent) -> bool:
        watch.look(agent)
        return watch.recorded_bytes() > FS_SIZE and sample(agent, "retention_deleted_total", footage="continuous", reason="space") >= 6

    agent, _metrics, met = run_service(settings, until, timeout=180)
    assert met, f"recorded {watch.recorded_bytes()} B, deleted for space: " \
                f"{sample(agent, 'retention_deleted_total', footage='continuous', reason='space')}"
    for camera in ("front", "back"):
        assert sample(agent, "video_write_errors_total", camera=camera) == 0
        assert sample(agent, "video_disk_full_episodes_total", camera=camera) == 0
    assert sample(agent, "retention_deleted_total", footage="continuous", reason="disk_full") == 0
    assert not json_logs.events("recording_disk_full") and not json_logs.events("free_space_floor_raised")
    assert not json_logs.events("segment_write_failed") and not json_logs.events("session_crashed")
    # Between two passes (1 s) the cameras write far less than the floor: the disk never came close to full.
    assert watch.min_free > floor / 2, watch.min_free
    store = VideoStore.open(fs / "data", fs / "data" / "edge.db")
    try:
        watch.assert_oldest_deleted_first(store)
        assert_footage_sound(store, ["front", "back"])
    finally:
        dispose(store)


# a segment cut short ----------------------------------------------------------------------------------
def pts_seconds(packet: av.Packet, time_base: Fraction | None) -> Fraction:
    """A packet's presentation time in seconds (the test footage gives every packet both)."""
    assert packet.pts is not None and time_base is not None
    return packet.pts * time_base


def fragment_ends(path: Path) -> list[int]:
    """Byte offsets at which each moof+mdat fragment of a complete fragmented MP4 ends."""
    ends, pos, previous = [], 0, b""
    data = path.read_bytes()
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind == b"mdat" and previous == b"moof":
            ends.append(pos + size)
        previous, pos = kind, pos + size
    return ends


def test_truncate_to_fragments_keeps_whole_fragments_that_decode(footage_mp4, tmp_path):
    full = tmp_path / "full.mp4"
    with av.open(str(footage_mp4)) as source, av.open(str(full), "w", format="mp4", options={"movflags": SEGMENT_MOVFLAGS}) as out:
        src = source.streams.video[0]
        dst = out.add_stream_from_template(src)
        for packet in source.demux(src):
            if packet.dts is None:
                continue
            if pts_seconds(packet, src.time_base) >= 10:
                break
            packet.stream = dst
            out.mux(packet)
    ends = fragment_ends(full)
    assert len(ends) == 5  # a fragment per 2-second GOP
    data = full.read_bytes()
    frames_by_end = {}
    for cut in [ends[0] - 1, ends[0], ends[0] + 9, ends[2] - 4000, ends[2] + 3, ends[-1] - 1, len(data)]:
        part = tmp_path / f"cut-{cut}.mp4"
        part.write_bytes(data[:cut])
        kept = truncate_to_fragments(part)
        assert part.stat().st_size == (kept or cut)
        expected = max([e for e in ends if e <= cut], default=0)
        if cut == len(data):
            expected = len(data)  # a closed file is kept whole (mfra included)
        assert kept == expected, cut
        if kept:
            frames_by_end[cut] = decoded_frames(part)
    assert frames_by_end[ends[0]] == 20 and frames_by_end[ends[2] + 3] == 60 and frames_by_end[len(data)] == 100


def feed(writer: SegmentWriter, footage: Path, seconds: float, t0: float) -> None:
    """Feed the writer the footage's first ``seconds`` as if it arrived live from ``t0``."""
    with av.open(str(footage)) as source:
        stream = source.streams.video[0]
        writer.begin(stream)
        for packet in source.demux(stream):
            if packet.size == 0:
                continue
            if pts_seconds(packet, stream.time_base) >= seconds:
                break
            writer.write(packet, t0 + float(pts_seconds(packet, stream.time_base)) + 0.05)
        writer.end()


def footage_bytes(footage: Path, seconds: float) -> int:
    with av.open(str(footage)) as source:
        stream = source.streams.video[0]
        return sum(p.size for p in source.demux(stream) if p.size and pts_seconds(p, stream.time_base) < seconds)


def test_segment_cut_short_by_enospc_is_kept_up_to_its_last_fragment(small_fs, footage_mp4, tmp_path, json_logs):
    # Footage on a filesystem that holds about 19 s of it, the database elsewhere: the third 8-second
    # segment runs out of space in its second 2-second fragment; its first fragment is kept and indexed.
    fs = small_fs(footage_bytes(footage_mp4, 19) + 32 * 1024)
    store = VideoStore.open(fs, db_path=tmp_path / "edge.db")
    metrics = VideoMetrics(AgentMetrics("edge"))
    metrics.init_camera("cam1")
    errors: list[BaseException] = []
    writer = SegmentWriter("cam1", store, RecordingOptions(segment_seconds=8), metrics, on_write_error=errors.append)
    t0 = time.time() - 60
    feed(writer, footage_mp4, 24, t0)
    try:
        segs = store.segments("cam1")
        assert errors and all(is_disk_full(e) for e in errors)
        assert metrics.salvaged.labels("cam1")._value.get() == 1
        assert len(json_logs.events("recording_disk_full")) == 1
        assert [s.frames for s in segs][:2] == [80, 80]
        cut = segs[2]
        assert 0 < cut.frames < 80 and cut.frames % 20 == 0, cut.frames  # whole 2-second fragments only
        assert abs(cut.start_ts - (t0 + 16)) < 0.2 and abs(cut.duration_s - cut.frames / 10) < 0.2
        for seg in segs:
            path = store.absolute(seg.path)
            assert decoded_frames(path) == seg.frames and path.stat().st_size == seg.size_bytes
        assert {p.resolve() for p in fs.rglob("*.mp4")} == {store.absolute(s.path).resolve() for s in segs}
    finally:
        dispose(store)


# the database cannot commit ----------------------------------------------------------------------------
def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte with another program's file."""
    filler = directory / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:
        for chunk in (64 * 1024, 4096, 512, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def test_database_full_still_frees_space(small_fs, fake_camera, json_logs):
    fs = small_fs(FS_SIZE)
    store = VideoStore.open(fs / "data", fs / "data" / "edge.db")
    rec = recorder(store, fake_camera.url(), segment_seconds=4.0)
    try:
        wait_for(lambda: len(store.segments("cam1")) >= 5, 60, "five segments")
    finally:
        rec.stop()
    before = store.segments("cam1")
    fill(fs)
    assert shutil.disk_usage(fs).free == 0
    # The disk is so full that the database cannot commit anything, not even a deletion.
    with pytest.raises(OperationalError) as raised:
        store.add_segment(NewSegment("cam1", fs / "data" / "x.mp4", 0.0, 1.0, 1, "h264", 1))
    assert is_disk_full(raised.value)

    retention = Retention(store, RetentionSettings(min_free_bytes=0, min_free_percent=0, interval_s=1))
    retention.write_failed(OSError(errno.ENOSPC, "No space left on device"))
    report = retention.run_once()
    try:
        assert json_logs.events("database_full_deleting_files_first")
        assert report.disk_full and 1 <= report.space_segments < len(before) and report.freed_bytes > 0
        assert shutil.disk_usage(fs).free >= retention.learned_floor >= 1 * MIB
        remaining = store.segments("cam1")
        assert [s.path for s in remaining] == [s.path for s in before][report.space_segments:]  # oldest first
        assert integrity(fs / "data" / "edge.db") == "ok"
        assert all(store.absolute(s.path).is_file() for s in remaining)
        assert store.reconcile() == (0, 0)
        store.add_segment(NewSegment("cam1", fs / "data" / "x.mp4", 0.0, 1.0, 1, "h264", 1))  # commits again
    finally:
        dispose(store)
