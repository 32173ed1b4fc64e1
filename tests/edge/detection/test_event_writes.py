"""The detector's event writes: ``EventStore.save_all`` (one upsert per row, several rows per transaction)
stores what the ORM merge stored, and the deferred ``EventManager`` hands the event thread the newest
state of each changed event once per pass."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from agents.edge.db import open_database
from agents.edge.detection.detector import Detection
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventRow, EventStore, to_proto
from agents.edge.outbox import OutboxItem, OutboxKind
from agents.edge.tracking.tracker import Tracker, TrackerSettings
from guardian.contracts.edge.v1 import uplink_pb2

COLUMNS = [c.key for c in EventRow.__table__.columns if c.key != "updated_at"]


def _row(**extra: object) -> EventRow:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    values: dict[str, object] = {"id": str(uuid.uuid4()), "camera": "front", "label": "person", "model": "m@1",
                                 "start_at": start, "end_at": None, "ended": False, "max_score": 0.9,
                                 "mean_score": 0.8, "hits": 3}
    values.update(extra)
    return EventRow(**values)


def _stored(sessions, event_id: str) -> dict[str, object]:  # noqa: ANN001
    with sessions() as s:
        row = s.get(EventRow, event_id)
        return {k: getattr(row, k) for k in COLUMNS}


def _outbox(sessions) -> list[OutboxItem]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.kind == int(OutboxKind.EVENT)).order_by(OutboxItem.id)))


def _merge(sessions, row: EventRow) -> None:  # noqa: ANN001
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
        def snapshot(self, frame, box, snapshot, thumbnail):  # noqa: ANN001
            pass

        def clip(self, camera, start, end, target, partial_ok=False):  # noqa: ANN001
            return 1.0

    manager = EventManager("front", store, NoMedia(), tmp_path, "m@1", deferred=True)
    tracker = Tracker(TrackerSettings(confirm_hits=2, end_after_s=1.0))
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
