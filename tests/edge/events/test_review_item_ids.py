"""Review item ids (issue #20): the edge places each event in its camera's review item as it opens and
updates it, and sends the item's id with the event. Through the real tracker, event manager, store and
outbox (SQLite), then the relay's summary for the cloud."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from agents.edge.db import open_database
from agents.edge.db.tables import OutboxItem
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import ItemGrouper
from agents.edge.events.store import EventStore
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from agents.relay.db.tables import CachedEvent
from agents.relay.forwarder import summarise
from guardian.contracts.edge.v1 import uplink_pb2

_FRAME = np.zeros((48, 64, 3), np.uint8)
T0 = 1_780_000_000.0
FPS = 5


def _person(x: float, y: float) -> Detection:
    return Detection("person", 0.8, (x, y, x + 0.06, y + 0.2))


def _scene(t: float) -> list[Detection]:
    """What the detector sees at ``t`` seconds: two people crossing together, one alone 11 s later, a van
    parked for 40 s (someone walks by meanwhile), then the van drives off as someone else walks by."""
    seen = []
    if 0 <= t < 6:
        seen.append(_person(0.05 + 0.05 * t, 0.05))
    if 3 <= t < 9:
        seen.append(_person(0.05 + 0.05 * (t - 3), 0.4))
    if 20 <= t < 25:
        seen.append(_person(0.05 + 0.05 * (t - 20), 0.05))
    if 60 <= t < 63:
        seen.append(_person(0.05 + 0.05 * (t - 60), 0.05))
    if 77 <= t < 82:
        seen.append(_person(0.05 + 0.05 * (t - 77), 0.05))
    if 40 <= t < 84:
        x = 0.6 + 0.05 * max(0.0, t - 80)  # parked until 80 s, then drives off
        seen.append(Detection("truck", 0.7, (x, 0.6, x + 0.2, 0.9)))
    return seen


def test_overlapping_events_share_an_item_and_a_parked_van_is_one_item_until_it_moves(tmp_path) -> None:
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        manager = EventManager("campus", EventStore(sessions), _NoMedia(), tmp_path, "m@1")
        tracker = Tracker()
        for i in range(90 * FPS):
            now = T0 + i / FPS
            manager.handle(tracker.update(_scene(i / FPS), now), _FRAME, now)
        manager.shutdown(tracker.flush(), T0 + 91)
        rows = EventStore(sessions).query(camera="campus")
        with sessions() as session:
            sent = [uplink_pb2.Event.FromString(o.payload) for o in session.scalars(select(OutboxItem))]
    finally:
        engine.dispose()
    items: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        items[row.review_item].append((row.label, round(row.start_at.timestamp() - T0)))
    assert sorted(sorted(events) for events in items.values()) == [
        [("person", 0), ("person", 3)],  # overlapping: one activity
        [("person", 20)],  # 11 s later: an item of its own
        [("person", 60)],  # the van stood still since 45 s: it does not hold an item open
        # The van drives off at 80 s: its event ends there and a new one begins, in the activity of then.
        [("person", 77), ("truck", 81)],
        [("truck", 40)],  # the van, parked: one item, which keeps its event
    ]
    assert all(len(item) == 36 for item in items)  # UUIDs
    # What the uplink sends carries each event's item as stored.
    assert {m.event_id: m.review_item for m in sent} == {r.id: r.review_item for r in rows}


def test_the_item_id_reaches_the_cloud_summary_only_as_a_uuid() -> None:
    start = datetime.fromtimestamp(T0, UTC)
    sent = uplink_pb2.Event(event_id="e-1", camera="campus", label="person", review_item="8a4c0bd0-0d6c-4b55-9a57-1c2f7f04c1a2")
    cached = CachedEvent(event_id="e-1", device_id="edge-1", camera="campus", label="person", start=start, end=start,
                         max_score=0.8, clip_ref="", payload=sent.SerializeToString())
    assert summarise(cached).review_item == "8a4c0bd0-0d6c-4b55-9a57-1c2f7f04c1a2"
    for other in ("", "not an id; x0=0.1 y0=0.3"):  # an older edge's, or anything else: no item
        sent.review_item = other
        cached.payload = sent.SerializeToString()
        assert summarise(cached).review_item == ""


def test_a_busy_scene_is_cut_into_items_of_at_most_max_item_s() -> None:
    ids = iter(str(i) for i in range(100))
    grouper = ItemGrouper(gap_s=5, max_item_s=120, new_id=lambda: next(ids))
    placed = [grouper.place(None, t, t + 10).id for t in range(0, 300, 8)]  # overlapping activity all along
    assert [placed.count(i) for i in dict.fromkeys(placed)] == [15, 15, 8]


class _NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


class _Items:
    """Keeps what the manager tells of review items (the MQTT publisher's side of the observer)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, tuple[str, ...], float]] = []  # phase, item id, labels, time
        self.now = 0.0  # the time of the result being handled

    def event_changed(self, phase, row, snapshot) -> None:
        pass

    def item_changed(self, phase, camera, item) -> None:
        self.told.append((phase, item.id, tuple(item.labels), self.now))


def test_each_item_is_told_new_once_and_ended_once_and_never_changes_after(tmp_path) -> None:
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        manager = EventManager("campus", EventStore(sessions), _NoMedia(), tmp_path, "m@1")
        manager.observer = items = _Items()
        tracker = Tracker()
        for i in range(90 * FPS):
            items.now = now = T0 + i / FPS
            manager.handle(tracker.update(_scene(i / FPS), now), _FRAME, now)
            manager.tick(now)
        items.now = T0 + 91
        manager.shutdown(tracker.flush(), T0 + 91)
    finally:
        engine.dispose()
    phases: dict[str, list[str]] = defaultdict(list)
    for phase, item, _, _ in items.told:
        phases[item].append(phase)
    assert len(phases) == 5  # the five of the test above
    for told in phases.values():
        assert told[0] == "new" and told[-1] == "end" and told.count("new") == told.count("end") == 1
    ends = sorted((round(at - T0), labels) for phase, _, labels, at in items.told if phase == "end")
    assert ends == [
        (14, ("person",)),  # the two walkers (gone at 9 s, the gap is 5 s)
        (30, ("person",)),
        (50, ("truck",)),  # the parked van: active for 5 s after it appeared, then the gap; it stands there still
        (68, ("person",)),
        (89, ("person", "truck")),  # the van drove off as someone walked by (out of sight at 84 s)
    ]
