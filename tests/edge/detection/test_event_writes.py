"""The detector's event writes: ``EventStore.save_all`` (one upsert per row, several rows per transaction)
stores what the ORM merge stored, and the deferred ``EventManager`` hands the event thread the newest
state of each changed event once per pass; the detection service's event thread stores what changed at
most once per interval, on request, and at stop."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from agents.edge.config import EdgeSettings
from agents.edge.db import open_database
from agents.edge.db.tables import EventRow, OutboxItem
from agents.edge.detection import service as service_module
from agents.edge.detection.service import DetectionService
from agents.edge.events.manager import PROGRESS_INTERVAL_S, EventManager
from agents.edge.events.store import EventStore, to_proto
from agents.edge.outbox import OutboxKind
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.metrics import AgentMetrics

COLUMNS = [c.key for c in EventRow.__table__.columns if c.key != "updated_at"]


def _row(**extra: object) -> EventRow:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    values: dict[str, object] = {"id": str(uuid.uuid4()), "camera": "front", "label": "person", "model": "m@1",
                                 "start_at": start, "end_at": None, "ended": False, "max_score": 0.9,
                                 "mean_score": 0.8, "hits": 3}
    values.update(extra)
    return EventRow(**values)


def _stored(sessions, event_id: str) -> dict[str, object]:
    with sessions() as s:
        row = s.get(EventRow, event_id)
        return {k: getattr(row, k) for k in COLUMNS}


def _outbox(sessions) -> list[OutboxItem]:
    with sessions() as s:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.kind == int(OutboxKind.EVENT)).order_by(OutboxItem.id)))


def _merge(sessions, row: EventRow) -> None:
    """The ORM route ``EventStore.save`` took before: merge, flush, queue."""
    from agents.edge.outbox import enqueue

    with sessions.begin() as session:
        row.updated_at = datetime.now(UTC)
        merged = session.merge(row)
        session.flush()
        enqueue(session, OutboxKind.EVENT, merged.id, to_proto(merged).SerializeToString())


def test_save_all_stores_what_the_orm_merge_stored(tmp_path):
    _, orm = open_database(tmp_path / "orm.db")
    _, core = open_database(tmp_path / "core.db")
    track = json.dumps([[1780000000.0 + i / 5, 0.1, 0.2, 0.3 + i / 1000, 0.4, 0.7] for i in range(80)])
    # A row with only the required columns (as tests/images/e2e-edge.sh writes one), and a full one.
    cases = [lambda: _row(), lambda: _row(snapshot_ref="a.jpg", track_json=track, end_at=datetime(2026, 3, 1, 12, 1, tzinfo=UTC))]
    for make in cases:
        a, b = make(), make()
        b.id = a.id
        _merge(orm, a)
        EventStore(core).save(b)
        assert _stored(orm, a.id) == _stored(core, a.id)
        # The same object again, changed (as the manager closes an event), and a detached copy from get().
        for row, save in ((a, lambda r: _merge(orm, r)), (b, EventStore(core).save)):
            row.ended, row.end_at, row.hits = True, row.start_at + timedelta(seconds=9), 12
            save(row)
        again = EventStore(core).get(a.id)
        assert again is not None
        again.clip_ref = "c.mp4"
        EventStore(core).save(again)
        a.clip_ref = "c.mp4"
        _merge(orm, a)
        assert _stored(orm, a.id) == _stored(core, a.id)
    # One outbox row per event, carrying the newest state, in both.
    for sessions in (orm, core):
        rows = _outbox(sessions)
        assert len(rows) == len(cases)
        for item in rows:
            msg = uplink_pb2.Event.FromString(item.payload)
            assert msg.ended and msg.clip_ref == "c.mp4" and item.generation == 2
    assert [o.payload for o in _outbox(orm)] == [o.payload for o in _outbox(core)]


def test_save_all_writes_several_rows_in_one_transaction(tmp_path):
    engine, sessions = open_database(tmp_path / "edge.db")
    store = EventStore(sessions)
    commits = []
    from sqlalchemy import event

    event.listen(engine, "commit", lambda conn: commits.append(1))
    rows = [_row() for _ in range(5)]
    store.save_all(rows)
    store.save_all([])
    assert len(commits) == 1
    assert {r.id for r in store.query()} == {r.id for r in rows}
    assert len(_outbox(sessions)) == 5
    assert all(r.track_json == "[]" and r.snapshot_ref == "" for r in rows)  # the defaults, as stored


def test_deferred_manager_hands_over_the_newest_state_once_per_pass(tmp_path):
    _, sessions = open_database(tmp_path / "edge.db")
    store = EventStore(sessions)

    class NoMedia:
        def snapshot(self, frame, box, snapshot, thumbnail):
            pass

        def clip(self, camera, start, end, target, partial_ok=False):
            return 1.0

    manager = EventManager("front", store, NoMedia(), tmp_path, "m@1", deferred=True)
    tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
    det = Detection("person", 0.8, (0.1, 0.1, 0.3, 0.5))
    t0 = 1_780_000_000.0
    manager.handle(tracker.update([det], t0), None, t0)  # type: ignore[arg-type]
    manager.handle(tracker.update([det], t0 + 0.2), None, t0 + 0.2)  # type: ignore[arg-type]
    assert len(manager.open) == 1 and store.query() == []  # opened, not written yet
    opened = manager.take_unsaved()
    assert len(opened) == 1 and manager.take_unsaved() == []
    store.save_all(opened)
    assert [e.ended for e in store.query()] == [False]
    # Ends, and its clip is made, within one pass: one write with the final state.
    manager.handle(tracker.update([], t0 + 2.0), None, t0 + 2.0)  # type: ignore[arg-type]
    manager.tick(t0 + 60)
    final = manager.take_unsaved()
    assert len(final) == 1 and final[0].ended and final[0].clip_ref
    store.save_all(final)
    (event,) = store.query()
    assert event.ended and event.clip_ref and event.clip_duration_s == 1.0
    (item,) = _outbox(sessions)
    assert uplink_pb2.Event.FromString(item.payload).clip_ref == event.clip_ref


def test_track_point_times_are_exact_in_the_uplink_message():
    times = [1_780_000_000.0, 1_780_000_000.2, 1_780_000_000.999_999_9, 1_779_999_999.5, 1_780_000_001.123_456]
    row = _row(track_json=json.dumps([[t, 0.1, 0.2, 0.3, 0.4, 0.9] for t in times]))
    msg = to_proto(row)
    for t, point in zip(times, msg.track, strict=True):
        assert 0 <= point.at.nanos < 1_000_000_000
        assert point.at.seconds * 1_000_000_000 + point.at.nanos == round(t * 1e9)
        assert abs(point.at.ToDatetime(tzinfo=UTC).timestamp() - t) < 1e-6


class _NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return 1.0


def _service(model_store, tmp_path, **detection: Any) -> DetectionService:
    settings = EdgeSettings(
        storage={"data_dir": tmp_path / "data"}, models={"store_dir": model_store.root},
        detection={"labels": ["person", "car", "truck"], **detection},
        cameras=[{"name": "front", "record_url": "rtsp://127.0.0.1:9/unused"}],
    )
    return DetectionService(settings, AgentMetrics("edge"), media=_NoMedia())


def _feed(service: DetectionService, frames, origin: float) -> int:
    pipeline = service.pipelines["front"]
    inferred = sum(pipeline.process(f, origin + t, block=True).startswith("inferred") for t, f in frames)
    assert service.detector is not None  # loaded by the service's constructor
    service.detector.wait()  # every result is on the event thread's queue
    return inferred


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_event_thread_stores_what_changed_once_per_interval_and_on_flush(model_store, footage, tmp_path, monkeypatch):
    """With an interval longer than the test nothing is stored until ``flush()``; then every change so
    far goes in one transaction, and stopping stores the rest (the events it closes)."""
    monkeypatch.setattr(service_module, "WRITE_INTERVAL_S", 3600.0)
    service = _service(model_store, tmp_path)
    commits: list[int] = []
    sa_event.listen(service.engine, "commit", lambda conn: commits.append(1))
    service.start(readers=False)
    origin = time.time()
    try:
        inferred = _feed(service, footage[:60], origin)
        manager = service.pipelines["front"].events
        _until(lambda: manager.counts.opened >= 2)  # the results went through the tracker...
        time.sleep(0.6)  # ...and the event thread has woken at least once more since
        assert service.event_store.query() == [] and commits == [] and service.results_handled == 0
        service.flush()
        _until(lambda: service.results_handled == inferred)
        assert len(commits) == 1
        stored = service.event_store.query()
        assert len(stored) == manager.counts.opened and not all(e.ended for e in stored)
        _feed(service, footage[60:90], origin)
    finally:
        service.stop()
    # The stop: the event thread's last store (what the last frames changed), then the events it closed.
    assert len(commits) == 3
    final = service.event_store.query()
    assert len(final) == manager.counts.opened and all(e.ended for e in final)
    with service.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == len(final)


def test_event_thread_stores_without_being_asked(model_store, footage, tmp_path):
    """At the default interval the changes are stored on time even when no more results arrive."""
    service = _service(model_store, tmp_path)
    service.start(readers=False)
    try:
        inferred = _feed(service, footage[:40], time.time())
        _until(lambda: service.results_handled == inferred)
        assert len(service.event_store.query()) == service.pipelines["front"].events.counts.opened >= 1
    finally:
        service.stop()


def test_leftovers_are_ended_at_their_last_track_point_and_queued_and_kept_ids_stay_open(tmp_path):
    _, sessions = open_database(tmp_path / "edge.db")
    store = EventStore(sessions)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    tracked = _row(track_json=json.dumps([[start.timestamp() + s, 0.1, 0.2, 0.3, 0.4, 0.8] for s in (0, 4, 7.5)]))
    untracked, kept = _row(), _row()
    done = _row(ended=True, end_at=start + timedelta(seconds=3))
    store.save_all([tracked, untracked, kept, done])
    closed = store.close_leftovers(keep={kept.id})
    assert {r.id for r in closed} == {tracked.id, untracked.id}
    ends = {e.id: (e.ended, e.end_at and e.end_at.replace(tzinfo=UTC)) for e in store.query()}
    assert ends == {tracked.id: (True, start + timedelta(seconds=7.5)), untracked.id: (True, start),
                    kept.id: (False, None), done.id: (True, start + timedelta(seconds=3))}
    queued = {o.key: uplink_pb2.Event.FromString(o.payload) for o in _outbox(sessions)}
    for row in (tracked, untracked):
        assert queued[row.id].ended and queued[row.id].end.ToDatetime(UTC) == ends[row.id][1]
    assert not queued[kept.id].ended
    assert store.close_leftovers(keep={kept.id}) == []



def test_an_open_event_s_track_is_stored_again_every_progress_interval(tmp_path):
    """So that a detector killed mid-event leaves a row whose last point is at most that old."""
    _, sessions = open_database(tmp_path / "edge.db")
    store = EventStore(sessions)
    manager = EventManager("front", store, _NoMedia(), tmp_path, "m@1")
    tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=5.0))
    det = Detection("person", 0.8, (0.1, 0.1, 0.3, 0.5))
    t0 = 1_780_000_000.0
    stored_last: list[float] = []
    for i in range(int(3 * PROGRESS_INTERVAL_S / 0.2) + 1):  # 30 s of a person standing, at 5 fps
        t = t0 + i * 0.2
        manager.handle(tracker.update([det], t), None, t)  # type: ignore[arg-type]
        if not manager.open:
            continue  # not confirmed yet
        (event,) = store.query()
        if not stored_last or event.track[-1][0] != stored_last[-1]:
            stored_last.append(event.track[-1][0])
        assert not event.ended and t - event.track[-1][0] < PROGRESS_INTERVAL_S + 0.2 + 1e-6
    assert len(stored_last) == 3  # at the opening (t0 + 0.2), then every PROGRESS_INTERVAL_S
    (item,) = _outbox(sessions)
    assert item.generation == 2 and uplink_pb2.Event.FromString(item.payload).track[-1].at.seconds == int(stored_last[-1])


def test_the_periodic_sweep_leaves_the_running_detector_s_own_open_events_alone(model_store, footage, tmp_path):
    # No track ends by time while the test looks: an event ended on the event thread but not stored yet would
    # still be open in the database, and this sweep, unlike the service's, does not run right after a store
    # (CI, under load, took longer than the 4 s a track lives unseen between the flush and the sweep).
    service = _service(model_store, tmp_path, tracking={"end_after_s": 600})
    service.start(readers=False)
    try:
        _feed(service, footage[:60], time.time())
        manager = service.pipelines["front"].events
        _until(lambda: manager.counts.opened >= 2 and len(manager.open) >= 1)
        service.flush()
        _until(lambda: len(service.event_store.query(ended=False)) >= len(manager.open))
        own = {ev.row.id for ev in manager.open.values()}
        assert service.close_leftovers() == 0
        assert own <= {e.id for e in service.event_store.query(ended=False)}
    finally:
        service.stop()
