"""The outbox's own rules: one row per event, generation-checked acks, the size policy, no id reuse."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agents.edge import outbox
from agents.edge.db import open_database
from agents.edge.outbox import OutboxItem, OutboxKind, OutboxLimits


def _db(tmp_path: Path):  # type: ignore[no-untyped-def]
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
