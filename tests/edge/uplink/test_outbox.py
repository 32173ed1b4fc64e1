"""The outbox's own rules: one row per event, generation-checked acks, the size policy, no id reuse."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agents.edge import outbox
from agents.edge.db import open_database
from agents.edge.db.tables import OutboxItem
from agents.edge.outbox import OutboxKind, OutboxLimits


def _db(tmp_path: Path):
    _engine, sessions = open_database(tmp_path / "edge.db")
    return sessions


def test_requeueing_an_event_updates_its_row_and_a_stale_ack_keeps_it(tmp_path: Path) -> None:
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"open")
    with sessions() as s:
        (sent,) = outbox.fetch_after(s, OutboxKind.EVENT, 0, 10)
    with sessions() as s, s.begin():
        outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"ended")  # the event ended while "open" was in flight
    with sessions() as s, s.begin():
        assert outbox.acknowledge(s, [(sent.id, sent.generation)]) == 0  # ack of the old version
    with sessions() as s:
        (row,) = s.scalars(select(OutboxItem)).all()
        assert row.payload == b"ended" and row.generation == 1
    with sessions() as s, s.begin():
        assert outbox.acknowledge(s, [(row.id, row.generation)]) == 1
        assert outbox.length(s) == 0


def test_ids_are_never_reused_after_deletes(tmp_path: Path) -> None:
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        last = outbox.enqueue(s, OutboxKind.EVENT, "a", b"x")
    with sessions() as s, s.begin():
        outbox.acknowledge(s, [(last.id, 0)])
    with sessions() as s, s.begin():
        again = outbox.enqueue(s, OutboxKind.EVENT, "b", b"y")
    assert again.id > last.id  # the sender's cursor relies on this


def test_size_policy_drops_telemetry_first_and_events_only_past_the_hard_cap(tmp_path: Path) -> None:
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        for i in range(30):
            outbox.enqueue(s, OutboxKind.TELEMETRY, f"t{i}", b"t")
        for i in range(100):
            outbox.enqueue(s, OutboxKind.EVENT, f"e{i}", b"e")
    limits = OutboxLimits(max_items=110, max_telemetry=25, max_events=1000)
    with sessions() as s, s.begin():
        trimmed = outbox.enforce_limits(s, limits)
    assert trimmed.telemetry == 20 and trimmed.events == 0  # 130 → 110: only telemetry goes
    with sessions() as s:
        keys = [k for (k,) in s.execute(select(OutboxItem.key).where(OutboxItem.kind == OutboxKind.TELEMETRY))]
        assert keys == [f"t{i}" for i in range(20, 30)]  # the oldest went first

    with sessions() as s, s.begin():
        trimmed = outbox.enforce_limits(s, OutboxLimits(max_items=110, max_telemetry=25, max_events=90))
        assert trimmed.telemetry == 0 and trimmed.events == 10  # events: only past the hard cap, oldest first
        events = [k for (k,) in s.execute(select(OutboxItem.key).where(OutboxItem.kind == OutboxKind.EVENT))]
    assert len(events) == 90 and events[0] == "e10"


def test_enqueue_is_one_upsert_per_event_key_and_telemetry_always_adds(tmp_path: Path) -> None:
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        first = outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"open")
        again = outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"ended")  # same transaction
        other = outbox.enqueue(s, OutboxKind.EVENT, "ev-2", b"open")
        t1 = outbox.enqueue(s, OutboxKind.TELEMETRY, "ev-1", b"t1")  # a telemetry key never conflicts
        t2 = outbox.enqueue(s, OutboxKind.TELEMETRY, "ev-1", b"t2")
    assert (first.generation, again.id, again.generation) == (0, first.id, 1)
    assert len({first.id, other.id, t1.id, t2.id}) == 4
    with sessions() as s, s.begin():
        third = outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"clip")  # a later transaction
    assert (third.id, third.generation) == (first.id, 2)
    with sessions() as s:
        rows = s.execute(select(OutboxItem.kind, OutboxItem.key, OutboxItem.payload, OutboxItem.generation)
                         .order_by(OutboxItem.id)).all()
    assert [tuple(r) for r in rows] == [
        (OutboxKind.EVENT, "ev-1", b"clip", 2), (OutboxKind.EVENT, "ev-2", b"open", 0),
        (OutboxKind.TELEMETRY, "ev-1", b"t1", 0), (OutboxKind.TELEMETRY, "ev-1", b"t2", 0),
    ]
    # Once acknowledged (deleted), the same key queues a new row, sent after everything before it.
    with sessions() as s, s.begin():
        assert outbox.acknowledge(s, [(first.id, 2)]) == 1
    with sessions() as s, s.begin():
        requeued = outbox.enqueue(s, OutboxKind.EVENT, "ev-1", b"late")
    assert requeued.id > t2.id and requeued.generation == 0


def test_batched_ack_deletes_only_the_generations_sent_and_reports_the_rest(tmp_path: Path) -> None:
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        queued = [outbox.enqueue(s, OutboxKind.EVENT, f"ev-{i}", b"v0") for i in range(2500)]
    with sessions() as s:
        sent = outbox.fetch_after(s, OutboxKind.EVENT, 0, 5000)
    with sessions() as s, s.begin():
        outbox.enqueue(s, OutboxKind.EVENT, "ev-7", b"v1")  # replaced while in flight
        outbox.enqueue(s, OutboxKind.EVENT, "ev-2000", b"v1")
    acked = [(p.id, p.generation) for p in sent] + [(queued[3].id, 5)]  # and a stale duplicate ack
    with sessions() as s, s.begin():
        assert outbox.acknowledge(s, acked) == 2498
        assert sorted(outbox.still_queued(s, [i for i, _g in acked])) == [queued[7].id, queued[2000].id]
    with sessions() as s:
        assert [(p.key, p.payload, p.generation) for p in outbox.fetch_after(s, OutboxKind.EVENT, 0, 10)] == [
            ("ev-7", b"v1", 1), ("ev-2000", b"v1", 1)
        ]


def test_an_outbox_from_before_the_unique_index_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "edge.db"
    with sqlite3.connect(path) as db:  # the old schema, with a doubled event from a select-then-insert race
        db.executescript(
            """
            CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,
              key VARCHAR(64) NOT NULL, payload BLOB NOT NULL, created_at DATETIME NOT NULL,
              attempts INTEGER NOT NULL, generation INTEGER DEFAULT '0' NOT NULL);
            CREATE INDEX ix_outbox_kind_id ON outbox (kind, id);
            CREATE INDEX ix_outbox_key ON outbox (key);
            INSERT INTO outbox (kind, key, payload, created_at, attempts) VALUES
              (0, 'a', X'6f6c64', '2026-01-01 00:00:00', 0), (0, 'b', X'78', '2026-01-01 00:00:00', 0),
              (0, 'a', X'6e6577', '2026-01-01 00:00:00', 0), (1, 't', X'31', '2026-01-01 00:00:00', 0),
              (1, 't', X'32', '2026-01-01 00:00:00', 0);
            """
        )
    sessions = _db(tmp_path)
    with sessions() as s, s.begin():
        assert outbox.enqueue(s, OutboxKind.EVENT, "a", b"newer").id == 3
    with sessions() as s:
        rows = s.execute(select(OutboxItem.id, OutboxItem.key, OutboxItem.payload).order_by(OutboxItem.id)).all()
    assert [tuple(r) for r in rows] == [(2, "b", b"x"), (3, "a", b"newer"), (4, "t", b"1"), (5, "t", b"2")]
