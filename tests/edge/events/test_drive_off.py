"""A parked vehicle makes one review item, then nothing until it moves; when it drives off the owner hears of it
again (issue #20): its event ends where it stood and a new event begins with the move, in a new review item, so
MQTT says `new` and the cloud, which notifies once per item and event, gets an event and item it has not
notified of (tests/cloud/test_push.py drives the same scene through the cloud). The real tracker and event
manager (tests/edge/events/parked.py)."""

from __future__ import annotations

import pytest

from agents.edge.events.review_items import MOVE_CONFIRM_S
from agents.edge.events.store import to_proto
from agents.edge.tracking.types import Detection
from agents.relay.db.tables import CachedEvent
from agents.relay.forwarder import summarise

from . import parked

T0 = 1_780_000_000.0


def test_a_parked_van_that_drives_off_is_a_new_event_in_a_new_item(tmp_path) -> None:
    rows, told = parked.run(tmp_path, T0)
    assert [(row.label, row.ended) for row in rows] == [("car", True), ("car", True)]
    standing, leaving = rows
    # The parked one ends at its last point where it stood; the new one begins with the move (its box stands
    # over 0.03 of the picture away 0.8 s after 60 s) and ends out of sight.
    assert standing.start_at.timestamp() == T0 and leaving.start_at.timestamp() == pytest.approx(T0 + 60.8, abs=1e-3)
    assert standing.end_at is not None and standing.end_at.timestamp() == pytest.approx(T0 + 60.6, abs=1e-3)
    assert leaving.end_at is not None and leaving.end_at.timestamp() == pytest.approx(T0 + 69.8, abs=1e-3)
    assert standing.review_item != leaving.review_item
    # MQTT: the parked van's item, told new and ended with its one event; the drive-off's, new, with the other.
    items = [(phase, item, events) for phase, item, events in told.items if phase != "update"]
    assert items == [("new", standing.review_item, (standing.id,)), ("end", standing.review_item, (standing.id,)),
                     ("new", leaving.review_item, (leaving.id,)), ("end", leaving.review_item, (leaving.id,))]
    # The cloud's summaries: two events, each in its own item (a UUID), which it notifies of once each.
    summaries = [summarise(CachedEvent(event_id=row.id, device_id="edge-1", camera=row.camera, label=row.label,
                                       start=row.start_at, end=row.end_at, max_score=row.max_score, clip_ref="",
                                       payload=to_proto(row).SerializeToString())) for row in rows]
    assert [(s.event_id, s.review_item) for s in summaries] == [(r.id, r.review_item) for r in rows]


def test_a_passer_by_hiding_the_parked_van_for_a_moment_does_not_move_it(tmp_path) -> None:
    # Its box shrinks to its right half for 0.6 s, twice: one event, one item, until it drives off.
    hidden = [(20.0, 20.6), (40.0, 40.6)]
    assert MOVE_CONFIRM_S > 0.6

    def scene(t: float) -> list[Detection]:
        return parked.van(t, next(((a, b) for a, b in hidden if a <= t < b), (0.0, 0.0)))

    rows, told = parked.run(tmp_path, T0, scene)
    assert [row.start_at.timestamp() - T0 for row in rows] == pytest.approx([0.0, 60.8], abs=1e-3)
    assert len({item for _, item, _ in told.items}) == 2
