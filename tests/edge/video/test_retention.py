"""Retention with a tiny budget while the real test camera is being recorded."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agents.edge.config import RetentionSettings
from agents.edge.video.clips import assemble_clip
from agents.edge.video.retention import Retention
from agents.edge.video.status import CameraState

from .helpers import open_store, recorder, wait_for, wait_state

pytestmark = pytest.mark.slow


def indexed_files_exist(store) -> bool:
    rows = [*store.segments("cam1"), *store.clips()]
    return all(store.absolute(r.path).is_file() for r in rows)


def test_tiny_budget_removes_oldest_first_and_recording_continues(tmp_path, fake_camera):
    store = open_store(tmp_path)
    budget = 1_200_000  # about three 4-second segments of this footage
    retention = Retention(store, RetentionSettings(max_bytes=budget, min_free_bytes=0, min_free_percent=0, interval_s=0.5))
    stop = threading.Event()
    thread = threading.Thread(target=retention.run_forever, args=(stop,), daemon=True)
    rec = recorder(store, fake_camera.url(), segment_seconds=4.0, on_write_error=lambda _e: retention.request())
    seen: dict[str, float] = {}
    try:
        wait_state(rec, CameraState.STREAMING, 20)
        # An event clip made early: under space pressure it goes only after all continuous footage.
        first = wait_for(lambda: store.segments("cam1"), 20, "a first segment")[0]
        clip = assemble_clip(store, "cam1", first.start_ts, first.end_ts, tmp_path / "data" / "clips" / "e1.mp4")
        thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for seg in store.segments("cam1"):
                seen.setdefault(seg.path, seg.start_ts)
            assert indexed_files_exist(store)
            time.sleep(0.5)
        assert rec.status.snapshot().state == CameraState.STREAMING  # recording never stopped
    finally:
        rec.stop()
        stop.set()
        retention.request()
        thread.join(10)
    retention.run_once()
    remaining = store.segments("cam1")
    assert remaining, "recording continued: recent segments exist"
    deleted = [path for path in seen if path not in {s.path for s in remaining}]
    assert deleted, "the budget forced deletions"
    # Oldest first: everything deleted is older than everything kept.
    assert max(seen[p] for p in deleted) < min(s.start_ts for s in remaining)
    assert store.total_bytes() <= budget
    assert indexed_files_exist(store)
    assert not any((store.root / p).exists() for p in deleted)
    # The event clip outlived continuous footage older and younger than it... until only it is left.
    assert [c.path for c in store.clips()] == [store.relative(clip.path)]


def test_age_per_class_and_clips_after_continuous(tmp_path, fake_camera):
    store = open_store(tmp_path)
    rec = recorder(store, fake_camera.url(), segment_seconds=4.0)
    try:
        wait_for(lambda: len(store.segments("cam1")) >= 2, 40, "two segments")
    finally:
        rec.stop()
    segs = store.segments("cam1")
    clip = assemble_clip(store, "cam1", segs[0].start_ts, segs[0].end_ts, tmp_path / "data" / "clips" / "a.mp4")
    now = time.time()
    # Eight days later: continuous (7 days) expires, event clips (30 days) stay.
    report = Retention(store, RetentionSettings(min_free_bytes=0, min_free_percent=0)).run_once(now + 8 * 86400)
    assert report.expired_segments == len(segs) and report.expired_clips == 0
    assert store.segments("cam1") == [] and len(store.clips()) == 1
    assert Path(clip.path).is_file()
    # Space pressure with no continuous footage left: the oldest event clip goes.
    report = Retention(store, RetentionSettings(max_bytes=1, min_free_bytes=0, min_free_percent=0)).run_once()
    assert report.space_clips == 1 and store.clips() == [] and not Path(clip.path).exists()
    # Nothing left on disk that the index does not know, nothing indexed that is not on disk.
    assert not list((tmp_path / "data" / "recordings").rglob("*.mp4"))


def test_floor_out_of_reach_with_no_footage_is_reported_once(tmp_path):
    """A disk smaller than the floor (a small test VM, other data on it) leaves nothing to delete: said
    once, not on every pass, and said again only after the shortage has ended once."""
    store = open_store(tmp_path)
    total = shutil.disk_usage(tmp_path).total
    unreachable = RetentionSettings(min_free_bytes=total, min_free_percent=0, interval_s=1)
    retention = Retention(store, unreachable)
    with capture_logs() as logs:
        for _ in range(3):
            retention.run_once()
    assert [e["event"] for e in logs].count("disk_full_no_footage_left") == 1
    # Once the floor is met again (here: a floor of 0), a later shortage is reported anew.
    retention.settings = RetentionSettings(min_free_bytes=0, min_free_percent=0, interval_s=1)
    retention.run_once()
    retention.settings = unreachable
    with capture_logs() as logs:
        retention.run_once()
        retention.run_once()
    assert [e["event"] for e in logs].count("disk_full_no_footage_left") == 1
