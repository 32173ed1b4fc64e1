"""Per-camera retention: each camera's continuous recording is kept for its own days (``retention_days`` of
the applied desired config), the edge's default otherwise; event clips keep today's rule. Real segments
recorded from the test camera, a clock the test sets."""

from __future__ import annotations

import time
from functools import partial

import pytest

from agents.edge.camera_config.store import Outcome, apply
from agents.edge.camera_config.store import camera_retention_days as own_days
from agents.edge.config import RetentionSettings
from agents.edge.video.clips import assemble_clip
from agents.edge.video.retention import Retention
from guardian.contracts.edge.v1 import config_pb2

from .helpers import open_store, recorder, wait_for

pytestmark = pytest.mark.slow

DAY = 86400


def _desired(version: int, url: str, days: dict[str, float]) -> config_pb2.DesiredConfig:
    desired = config_pb2.DesiredConfig(version=version)
    for name, retention_days in days.items():
        desired.cameras.add(name=name, enabled=True, record=config_pb2.StreamSource(url=url),
                            retention_days=retention_days)
    return desired


def test_each_camera_keeps_its_own_days_and_clips_their_own_rule(tmp_path, fake_camera):
    store = open_store(tmp_path)
    recorders = [recorder(store, fake_camera.url(), name=name, segment_seconds=2.0) for name in ("short", "long", "plain")]
    try:
        for name in ("short", "long", "plain"):
            wait_for(partial(store.segments, name), 40, f"a segment of {name}")
    finally:
        for rec in recorders:
            rec.stop()
    counts = {name: len(store.segments(name)) for name in ("short", "long", "plain")}
    first = store.segments("short")[0]
    clip = assemble_clip(store, "short", first.start_ts, first.end_ts, tmp_path / "data" / "clips" / "e1.mp4")
    # "plain" is not in the config (an edge.toml camera, or one removed): the default, 7 days.
    assert apply(store.sessions, _desired(1, fake_camera.url(), {"short": 2, "long": 14}), None, None).outcome == Outcome.APPLIED
    retention = Retention(store, RetentionSettings(min_free_bytes=0, min_free_percent=0),
                          camera_days=lambda: own_days(store.sessions))
    now = time.time()

    report = retention.run_once(now + 3 * DAY)
    assert report.expired_segments == counts["short"]
    assert store.segments("short") == [] and len(store.segments("long")) == counts["long"]
    assert len(store.segments("plain")) == counts["plain"]
    assert [c.path for c in store.clips()] == [store.relative(clip.path)]  # clips: 30 days, whatever the camera

    report = retention.run_once(now + 8 * DAY)
    assert report.expired_segments == counts["plain"] and report.expired_clips == 0
    assert store.segments("plain") == [] and len(store.segments("long")) == counts["long"]

    # Back to the default (0) in a newer config: from the next pass on, 7 days.
    assert apply(store.sessions, _desired(2, fake_camera.url(), {"long": 0}), None, None).outcome == Outcome.APPLIED
    report = retention.run_once(now + 8 * DAY)
    assert report.expired_segments == counts["long"] and store.segments("long") == []
    assert retention.run_once(now + 31 * DAY).expired_clips == 1
    assert not any(store.root.rglob("*.mp4"))  # the files went with their rows
