"""A vehicle that drives in and parks stops being activity once parked, and driving off is news again (issue #20);
a person who pauses for a few seconds is not parked. The real tracker and event manager
(tests/edge/events/parked.py)."""

from __future__ import annotations

import pytest

from agents.edge.events.review_items import GAP_S, PARKED_S
from agents.edge.tracking.types import Detection

from . import parked

T0 = 1_780_000_000.0
STOP_S, LEAVE_S, GONE_S = 10.0, 70.0, 78.0  # the car drives in until 10 s, stands 60 s, drives off, out of sight
PAUSE = (5.0, 13.0)  # the person stands still 8 s at a door, then walks on; out of sight at 20 s


def car(t: float) -> list[Detection]:
    if t >= GONE_S:
        return []
    x = 0.04 * min(t, STOP_S) + 0.04 * max(0.0, t - LEAVE_S)
    return [Detection("car", 0.8, (x, 0.5, x + 0.2, 0.8))]


def person(t: float) -> list[Detection]:
    if t >= 20.0:
        return []
    x = 0.1 + 0.05 * (min(t, PAUSE[0]) + max(0.0, t - PAUSE[1]))
    return [Detection("person", 0.8, (x, 0.3, x + 0.06, 0.5))]


def test_a_car_that_drives_in_and_parks_ends_its_item_and_driving_off_is_a_new_item(tmp_path) -> None:
    assert LEAVE_S - STOP_S > PARKED_S + GAP_S  # it is parked long enough for its item to end while it stands
    rows, told = parked.run(tmp_path, T0, car)
    assert [(row.label, row.ended) for row in rows] == [("car", True), ("car", True)]
    arriving, leaving = rows
    # The first event ends where the car stood; the second begins with the move (0.04 of the picture a second:
    # its box stands over 0.03 away 0.8 s after 70 s, confirmed a second later) and ends out of sight.
    assert arriving.start_at.timestamp() == T0 and leaving.start_at.timestamp() == pytest.approx(T0 + LEAVE_S + 0.8, abs=1e-3)
    assert arriving.end_at is not None and arriving.end_at.timestamp() == pytest.approx(T0 + LEAVE_S + 0.6, abs=1e-3)
    assert leaving.end_at is not None and leaving.end_at.timestamp() == pytest.approx(T0 + GONE_S - 0.2, abs=1e-3)
    assert arriving.review_item != leaving.review_item
    # Each item told new and ended once, with its one event (MQTT `new` for the drive-off: the cloud pushes).
    items = [(phase, item, events) for phase, item, events in told.items if phase != "update"]
    assert items == [("new", arriving.review_item, (arriving.id,)), ("end", arriving.review_item, (arriving.id,)),
                     ("new", leaving.review_item, (leaving.id,)), ("end", leaving.review_item, (leaving.id,))]
    # The first item ended while the car stood there: parked PARKED_S after it stopped (its stop began within
    # the last 0.03 of the picture of its drive in, < 1 s before it stopped), then the item's gap.
    ended = told.ended_at[arriving.review_item] - T0
    assert STOP_S + PARKED_S - 1 <= ended <= STOP_S + PARKED_S + GAP_S + 1 / parked.FPS < LEAVE_S


def test_a_person_pausing_at_a_door_then_walking_on_is_one_event_and_one_item(tmp_path) -> None:
    assert PAUSE[1] - PAUSE[0] + GAP_S < PARKED_S  # a pause, not parking
    rows, told = parked.run(tmp_path, T0, person)
    assert [(row.label, row.start_at.timestamp() - T0) for row in rows] == [("person", 0.0)]
    (walker,) = rows
    assert [(phase, item) for phase, item, _ in told.items if phase != "update"] == [
        ("new", walker.review_item), ("end", walker.review_item)]
    # The item was not ended under the pause: only once the person was gone (last seen at 19.8 s) and the gap.
    assert told.ended_at[walker.review_item] - T0 > 19.8 + GAP_S
